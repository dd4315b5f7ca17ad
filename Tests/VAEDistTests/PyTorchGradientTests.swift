import Foundation
import Testing
import VAEModel
import VAETestSupport
@testable import VAETraining

/// vae-dist's hand-written forward and backward against PyTorch's own autograd, tensor by tensor: the committed
/// fixtures (written by Launch/pytorch-gradients.sh from Tests/python/pytorch_gradients.py and vae_twin.py) hold
/// PyTorch's loss terms and, per tensor, its gradient's sum of squares and values at ~1000 indices. Weights, batch
/// and ε come from the same integer formulas on both sides, exact in float32: each weight and bias pair in buffer
/// order (PyTorch's state_dict order), the pair's number and the weight's fan-in in the formula. Every layer type
/// adds its case here.
@Suite struct PyTorchGradientTests {
    /// The default model (784–400–20–400–784, ReLU, Bernoulli logits, loss = BCE sum + KL).
    @Test func everyGradientMatchesPyTorchsAutograd() throws {
        try Self.compare(ParameterLayout(Architecture.pytorchExample), fixture: "pytorch-gradients.json")
    }

    /// Config/mnist-conv.json's model (Conv2d, ConvTranspose2d, Linear, ReLU, flatten, unflatten) against its twin.
    @Test func everyConvGradientMatchesPyTorchsAutograd() throws {
        let configuration = try TrainingConfiguration.load(path: "Config/mnist-conv.json")
        try Self.compare(ParameterLayout(configuration.architecture), fixture: "pytorch-gradients-conv.json")
    }

    /// One batch of 4 through `layout`'s model with the formulas' weights, batch and ε, against the fixture.
    static func compare(_ layout: ParameterLayout, fixture name: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: "Tests/VAEDistTests/Fixtures/" + name))
        let fixture = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let batch = 4, input = layout.architecture.inputSize, latent = layout.architecture.latentSize
        let model = VariationalAutoencoder(layout: layout, batchCapacity: batch)
        for number in 0..<(layout.tensors.count / 2) {
            let weight = layout.tensors[2 * number], bias = layout.tensors[2 * number + 1]
            let fan = weight.count / weight.shape[0]
            let w = model.parameters.pointer(to: weight), b = model.parameters.pointer(to: bias)
            for i in 0..<weight.count {
                w[i] = Float(Double((i * 7919 + number * 104729) % 2001 - 1000) / 1000.0 / Double(fan).squareRoot())
            }
            for i in 0..<bias.count { b[i] = Float(Double((i * 131 + number * 17) % 201 - 100) / 1000.0) }
        }
        for i in 0..<(batch * input) { model.input[i] = Float(Double((i * 31) % 256) / 255.0) }
        for i in 0..<(batch * latent) { model.epsilon[i] = Float(Double((i * 7) % 13 - 6) / 4.0) }

        let terms = model.forward(batch: batch, training: true)
        model.backward(batch: batch)

        expectClose(terms.reconstruction, try #require(fixture["reconstruction"] as? Double), relative: 1e-5, absolute: 0)
        expectClose(terms.kl, try #require(fixture["kl"] as? Double), relative: 1e-4, absolute: 0)
        let gradients = try #require(fixture["gradients"] as? [String: [String: Any]])
        #expect(gradients.count == layout.tensors.count)
        for tensor in layout.tensors {
            let theirs = try #require(gradients[tensor.name], "no \(tensor.name) in the fixture")
            let ours = model.gradients.pointer(to: tensor)
            #expect(theirs["count"] as? Int == tensor.count, "\(tensor.name)")
            let sumOfSquares = (0..<tensor.count).reduce(0.0) { $0 + Double(ours[$1]) * Double(ours[$1]) }
            expectClose(
                sumOfSquares, try #require(theirs["sum_of_squares"] as? Double), relative: 2e-4, absolute: 0, "\(tensor.name)")
            let indices = try #require(theirs["indices"] as? [Int]), values = try #require(theirs["values"] as? [Double])
            let scale = values.map(abs).max() ?? 0
            let worst =
                zip(indices, values).map { index, value in
                    abs(Double(ours[index]) - value) / (1e-4 * abs(value) + 1e-5 * scale)
                }.max() ?? 0
            #expect(
                worst <= 1,
                "\(tensor.name): worst gradient difference \(worst)× the tolerance (relative 1e-4, absolute 1e-5 of the largest)")
        }
    }
}
