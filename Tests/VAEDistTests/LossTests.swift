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

@Suite struct AdamTests {
    @Test func twoStepsMatchHandComputedValues() {
        let adam = Adam(parameterCount: 2, hyperparameters: .init(learningRate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8))
        let parameters = FlatBuffer(count: 2), gradients = FlatBuffer(count: 2)
        parameters.pointer[0] = 1; parameters.pointer[1] = -2
        gradients.pointer[0] = 0.5; gradients.pointer[1] = -0.1
        adam.update(parameters: parameters, gradients: gradients)
        // Step 1: m = 0.1 g, v = 0.001 g², m̂ = g, v̂ = g², so θ −= 0.1 · g / (|g| + 1e-8) = ±0.1.
        #expect(abs(parameters.pointer[0] - 0.9) < 1e-6)
        #expect(abs(parameters.pointer[1] - (-1.9)) < 1e-6)
        #expect(abs(adam.firstMoment.pointer[0] - 0.05) < 1e-7)
        #expect(abs(adam.secondMoment.pointer[0] - 0.00025) < 0.00025 * 1e-4)  // 1 − β₂ rounds in float
        // Step 2 with g = (0.2, 0.3):
        // m₀ = 0.9·0.05 + 0.1·0.2 = 0.065; v₀ = 0.999·0.00025 + 0.001·0.04 = 0.00028975
        // m̂₀ = 0.065/0.19 = 0.342105…; v̂₀ = 0.00028975/0.001999 = 0.144947…; θ₀ = 0.9 − 0.1·0.342105/0.380719 = 0.810142…
        // m₁ = 0.9·(−0.01) + 0.1·0.3 = 0.021; v₁ = 0.999·0.00001 + 0.001·0.09 = 0.00009999
        // m̂₁ = 0.110526…; v̂₁ = 0.0500200…; θ₁ = −1.9 − 0.1·0.110526/0.223652 = −1.949419…
        gradients.pointer[0] = 0.2; gradients.pointer[1] = 0.3
        adam.update(parameters: parameters, gradients: gradients)
        #expect(adam.step == 2)
        #expect(abs(parameters.pointer[0] - 0.810142) < 2e-6, "\(parameters.pointer[0])")
        #expect(abs(parameters.pointer[1] - (-1.949419)) < 2e-6, "\(parameters.pointer[1])")
    }
}

@Suite struct LayoutTests {
    @Test func defaultArchitectureHasPyTorchNamesAndShapes() {
        let layout = ParameterLayout(.pytorchExample)
        #expect(layout.count == 652_824)
        let shapes = Dictionary(uniqueKeysWithValues: layout.tensors.map { ($0.name, $0.shape) })
        #expect(
            shapes == [
                "fc1.weight": [400, 784], "fc1.bias": [400], "fc21.weight": [20, 400], "fc21.bias": [20],
                "fc22.weight": [20, 400], "fc22.bias": [20], "fc3.weight": [400, 20], "fc3.bias": [400],
                "fc4.weight": [784, 400], "fc4.bias": [784],
            ])
    }

    @Test func deeperArchitecturesFollowTheNumberingScheme() {
        let layout = ParameterLayout(
            Architecture(encoderHidden: [200, 200], latentSize: 50, decoderHidden: [200, 200], activation: .tanh))
        #expect(
            layout.tensors.map(\.name).filter { $0.hasSuffix(".weight") }
                == ["fc1.weight", "fc2.weight", "fc31.weight", "fc32.weight", "fc4.weight", "fc5.weight", "fc6.weight"])
    }

    @Test func initializationIsPyTorchsUniformBoundAndSeeded() {
        let layout = ParameterLayout(.pytorchExample)
        let a = FlatBuffer(count: layout.count), b = FlatBuffer(count: layout.count), c = FlatBuffer(count: layout.count)
        layout.initialize(a, seed: 1)
        layout.initialize(b, seed: 1)
        layout.initialize(c, seed: 2)
        #expect(a.bytes == b.bytes)
        #expect(a.bytes != c.bytes)
        for layer in layout.linearLayers {
            let bound = 1 / Float(layer.inputSize).squareRoot()
            let values = UnsafeBufferPointer(start: a.pointer(to: layer.weight), count: layer.weight.count)
            #expect(values.allSatisfy { abs($0) <= bound })
            #expect(values.max()! > 0.95 * bound && values.min()! < -0.95 * bound, "\(layer.weight.name) does not fill ±\(bound)")
        }
    }
}
