import Foundation
import Testing
import VAEModel
@testable import VAETraining

/// The discretized logistic for 8-bit pixels: a true distribution over the 256 bins, its derivatives, its place in
/// the model (finite differences over every tensor, `x_logscale` included) and bits per dimension.
@Suite struct DiscretizedLogisticTests {
    @Test(arguments: [(0.0, 0.0), (0.3, -2.0), (-0.97, -4.0), (0.999, 1.5), (2.5, -1.0), (0.01, -6.0)])
    func theBinsSumToOne(location: Double, logScale: Double) {
        let total = (0...255).reduce(0.0) { sum, k in
            sum + exp(-DiscretizedLogisticLikelihood.pixel(target: Double(k) / 255, location: location, logScale: logScale).nll)
        }
        #expect(abs(total - 1) <= 1e-6, "Σ P = \(total) at μ \(location), s \(logScale)")
    }

    @Test(arguments: [0.0, 1.0 / 255, 0.5, 128.0 / 255, 254.0 / 255, 1.0])
    func derivativesMatchFiniteDifferences(target: Double) {
        for (mu, s) in [(0.1, -1.0), (-0.8, -3.0), (0.95, 0.5)] {
            let f = { (m: Double, v: Double) in DiscretizedLogisticLikelihood.pixel(target: target, location: m, logScale: v).nll
            }
            let h = 1e-6
            let analytic = DiscretizedLogisticLikelihood.pixel(target: target, location: mu, logScale: s)
            let byMu = (f(mu + h, s) - f(mu - h, s)) / (2 * h), byS = (f(mu, s + h) - f(mu, s - h)) / (2 * h)
            expectClose(analytic.mu, byMu, relative: 1e-5, absolute: 1e-6, "∂/∂μ at x \(target), μ \(mu), s \(s)")
            expectClose(analytic.s, byS, relative: 1e-5, absolute: 1e-6, "∂/∂s at x \(target), μ \(mu), s \(s)")
        }
    }

    @Test func theModelsGradientsMatchFiniteDifferences() {
        var architecture = Architecture(inputSize: 6, encoderHidden: [5], latentSize: 2, decoderHidden: [4], activation: .tanh)
        architecture.likelihood = Likelihood(name: "discretized_logistic")!
        let model = GradientTests.model(architecture)
        // 8-bit values, the edge bins included.
        for i in 0..<(3 * 6) { model.input[i] = Float((i * 53) % 256) / 255 }
        model.input[0] = 0
        model.input[1] = 1
        #expect(model.layout.tensors.last?.name == "x_logscale")
        let (worst, _) = finiteDifferenceErrors(model, batch: 3, h: 1e-2) { 2e-3 + 2e-2 * max(abs($0), abs($1)) }
        for (tensor, ratio) in worst { #expect(ratio <= 1, "\(tensor): gradient error \(ratio)× the tolerance") }
    }

    @Test func bitsPerDimensionFollowTheirConventions() throws {
        let logistic = try #require(Likelihood(name: "discretized_logistic"))
        // A model giving each of 256 levels 1/256 scores 8 bits per dimension.
        expectClose(
            try #require(logistic.bitsPerDimension(nats: 784 * log(256.0), dimensions: 784)), 8, relative: 0, absolute: 1e-12)
        // The Gaussian's density on [0, 1] under uniform dequantization: a uniform density (NLL 0) is 8 bits too.
        expectClose(
            try #require(Likelihood.gaussian(.learned).bitsPerDimension(nats: 0, dimensions: 3072)), 8, relative: 0,
            absolute: 1e-12)
        #expect(Likelihood.bernoulli.bitsPerDimension(nats: 100, dimensions: 784) == nil)
    }

    /// Trained from the command line on 8-bit data, a model with this likelihood logs bits per dimension (metrics,
    /// eval --json) and they equal the loss over D·ln 2.
    @Test func aRunReportsBitsPerDimension() throws {
        let folder = Fixtures.temporaryFolder("logistic")
        let (status, _, err) = try CLITests.run([
            "train", "--data", "synthetic", "--likelihood", "discretized_logistic", "--max-steps", "4", "--batch-size", "32",
            "--set", "model.encoder_hidden=[16]", "--set", "model.decoder_hidden=[16]", "--set", "training.epochs=1",
            "--set", "data.validation_fraction=0.5", "--threads", "1", "--run-dir", folder, "-q",
        ])
        #expect(status == 0, "\(err)")
        let (evaluated, json, evalErr) = try CLITests.run([
            "eval", "--checkpoint", folder + "/checkpoint-step-000000004.safetensors", "--data", "synthetic", "--json",
        ])
        #expect(evaluated == 0, "\(evalErr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let loss = try #require(object["test_loss"] as? Double), bits = try #require(object["bits_per_dim"] as? Double)
        expectClose(bits, loss / (784 * log(2.0)), relative: 1e-5, absolute: 0)
        #expect(bits > 0 && bits.isFinite, "\(bits)")
        // The reconstructions' PSNR (z = μ) for 8-bit pictures.
        let psnr = try #require(object["psnr"] as? Double)
        #expect(psnr > 0 && psnr < 100, "\(psnr)")
    }
}
