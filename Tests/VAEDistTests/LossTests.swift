import Foundation
import Testing
import VAEModel

/// The stable BCE of one logit and target through BernoulliNLL.forward.
func bce(_ logit: Float, _ target: Float) -> Double {
    var gradient: Float = 0, scratch: Float = 0
    return BernoulliNLL.forward(
        logits: [logit], targets: [target], rows: 1, width: 1, logitGradient: &gradient, scratch: &scratch)
}

@Suite struct LossTests {
    @Test func closedFormKLMatchesMonteCarlo() {
        let means: [Float] = [0.3, -1.2, 0.0, 2.0]
        let logVariances: [Float] = [-0.5, 0.4, -2.0, 0.0]
        let sigma = logVariances.map { expf(0.5 * $0) }
        let closed = GaussianKL.forward(mean: means, logVariance: logVariances, standardDeviation: sigma, count: 4)
        // KL = E_q[log q(z) − log p(z)], estimated with 400k draws.
        var stream = RandomStream(seed: 11, purpose: .prior)
        var noise = [Float](repeating: 0, count: 2)
        var sum = 0.0
        let draws = 400_000
        for _ in 0..<draws {
            for d in 0..<4 {
                stream.fillStandardNormal(&noise, count: 1)
                let e = Double(noise[0])
                let z = Double(means[d]) + Double(sigma[d]) * e
                let logQ = -0.5 * e * e - log(Double(sigma[d]))
                let logP = -0.5 * z * z
                sum += logQ - logP
            }
        }
        let monteCarlo = sum / Double(draws)
        #expect(abs(monteCarlo - closed) < 0.01 * closed, "closed form \(closed), Monte Carlo \(monteCarlo)")
        // Known value: KL(N(0,1) ‖ N(0,1)) = 0.
        #expect(GaussianKL.forward(mean: [0], logVariance: [0], standardDeviation: [1], count: 1) == 0)
    }

    @Test func stableBCEMatchesNaiveFormulaWhereFinite() {
        var stream = RandomStream(seed: 5, purpose: .prior)
        for _ in 0..<2000 {
            let logit = 30 * stream.nextUnitFloat() - 15
            let target = stream.nextUnitFloat()
            let p = 1 / (1 + exp(-Double(logit)))
            let naive = -(Double(target) * log(p) + (1 - Double(target)) * log(1 - p))
            let stable = bce(logit, target)
            #expect(abs(stable - naive) <= 1e-5 * max(1, abs(naive)), "logit \(logit) target \(target): \(stable) vs \(naive)")
        }
    }

    @Test func stableBCEStaysFiniteWhereNaiveOverflows() {
        // log(sigmoid(-200)) underflows to log(0) = -inf in float; the log-sum-exp form gives 200 exactly.
        let naive = -log(1 / (1 + expf(200)))
        #expect(!naive.isFinite)
        #expect(bce(-200, 1) == 200)
        #expect(bce(200, 0) == 200)
        #expect(bce(200, 1) == 0)
    }

    @Test func gaussianNLLMatchesDensity() {
        // −log N(x; m, σ²) for x = 1, m = 0.5, σ² = 0.25: ½ log(2π·0.25) + 0.25/(2·0.25) = 0.2257913526…
        let value = GaussianNLL.forward(means: [0.5], targets: [1], logVariance: [logf(0.25)], rows: 1, width: 1)
        #expect(abs(value - (0.5 * log(2 * Double.pi * 0.25) + 0.5)) < 1e-6)
    }
}
