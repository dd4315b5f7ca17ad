import Foundation
import Testing
import VAEModel

/// The importance-weighted estimate of log p(x) converges to the value computed by quadrature over a
/// one-dimensional latent as K grows.
@Suite struct ImportanceSamplingTests {
    @Test func estimateConvergesToQuadratureOverAOneDimensionalLatent() {
        let architecture = Architecture(inputSize: 8, encoderHidden: [6], latentSize: 1, decoderHidden: [6], activation: .tanh)
        let layout = ParameterLayout(architecture)
        let model = VariationalAutoencoder(layout: layout, batchCapacity: 256)
        layout.initialize(model.parameters, seed: 4)
        let x: [Float] = [1, 0, 0, 1, 1, 0, 1, 0]

        // Quadrature: log p(x) = log ∫ p(x|z) N(z; 0, 1) dz on a grid over [−10, 10].
        let points = 8001, low = -10.0, high = 10.0, dz = (high - low) / Double(points - 1)
        var logTerms: [Double] = []
        var start = 0
        while start < points {
            let count = min(256, points - start)
            for r in 0..<count {
                model.latent[r] = Float(low + Double(start + r) * dz)
                for j in 0..<8 { model.input[r * 8 + j] = x[j] }
            }
            model.decode(batch: count)
            for r in 0..<count {
                var bce = 0.0
                for j in 0..<8 {
                    let l = Double(model.output[r * 8 + j])
                    bce += max(l, 0) - Double(x[j]) * l + log1p(exp(-abs(l)))
                }
                let z = Double(model.latent[r])
                logTerms.append(-bce - 0.5 * z * z - 0.5 * log(2 * Double.pi))
            }
            start += count
        }
        let peak = logTerms.max()!
        let truth = peak + log(logTerms.reduce(0) { $0 + exp($1 - peak) } * dz)

        func estimate(_ k: Int, seed: UInt64) -> Double {
            x.withUnsafeBufferPointer { xb in
                model.importanceWeightedLogLikelihood(of: xb.baseAddress!, samples: k) { index, destination in
                    var stream = RandomStream(seed: seed, purpose: .importanceSampling, index: UInt64(index))
                    stream.fillStandardNormal(destination, count: 1)
                }
            }
        }
        // Average error over 8 seeds at each K: it shrinks as K grows and is small at K = 5000.
        let errors = [1, 10, 100, 5000].map { k in (0..<8).reduce(0.0) { $0 + abs(estimate(k, seed: UInt64($1)) - truth) } / 8 }
        print("importance sampling: log p(x) = \(truth); mean abs error at K = 1, 10, 100, 5000: \(errors)")
        #expect(errors[3] < 0.01, "mean |error| at K = 5000: \(errors[3]) nats (truth \(truth))")
        #expect(errors[3] < errors[1] && errors[1] < errors[0], "errors by K: \(errors)")
        // Jensen: the estimator of log p(x) is biased low, so its mean at K = 1 lies below the truth.
        let meanAtOne = (0..<64).reduce(0.0) { $0 + estimate(1, seed: UInt64(100 + $1)) } / 64
        #expect(meanAtOne < truth, "mean K = 1 estimate \(meanAtOne) is not below log p(x) = \(truth)")
    }
}
