import Foundation
import Testing
import VAEModel
import VAETestSupport
@testable import VAETraining

/// vae-dist's hand-written forward and backward against PyTorch's own autograd on the default model (784–400–20–
/// 400–784, ReLU, Bernoulli logits, loss = BCE sum + KL), tensor by tensor: the committed fixture
/// (Fixtures/pytorch-gradients.json, written by Launch/pytorch-gradients.sh from Tests/python/pytorch_gradients.py)
/// holds PyTorch's loss terms and, per tensor, its gradient's sum of squares and values at ~1000 indices. Weights,
/// batch and ε come from the same integer formulas on both sides, exact in float32. Every later layer type adds
/// its case here.
@Suite struct PyTorchGradientTests {
    static let fixturePath = "Tests/VAEDistTests/Fixtures/pytorch-gradients.json"
    static let layers = ["fc1", "fc21", "fc22", "fc3", "fc4"]

    @Test func everyGradientMatchesPyTorchsAutograd() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.fixturePath))
        let fixture = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let layout = ParameterLayout(Architecture.pytorchExample)
        let batch = 4, input = layout.architecture.inputSize, latent = layout.architecture.latentSize
        let model = VariationalAutoencoder(layout: layout, batchCapacity: batch)
        for (index, name) in Self.layers.enumerated() {
            let weight = try #require(layout.tensors.first { $0.name == "\(name).weight" })
            let bias = try #require(layout.tensors.first { $0.name == "\(name).bias" })
            let inputs = weight.shape[1]
            let w = model.parameters.pointer(to: weight), b = model.parameters.pointer(to: bias)
            for i in 0..<weight.count {
                w[i] = Float(Double((i * 7919 + index * 104729) % 2001 - 1000) / 1000.0 / Double(inputs).squareRoot())
            }
            for i in 0..<bias.count { b[i] = Float(Double((i * 131 + index * 17) % 201 - 100) / 1000.0) }
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

/// The same check on Config/mnist-conv.json's model (Conv2d, ConvTranspose2d, Linear, ReLU, flatten, unflatten)
/// against its PyTorch twin (Tests/python/vae_twin.py), tensor by tensor (Fixtures/pytorch-gradients-conv.json).
@Suite struct PyTorchConvGradientTests {
    @Test func everyConvGradientMatchesPyTorchsAutograd() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: "Tests/VAEDistTests/Fixtures/pytorch-gradients-conv.json"))
        let fixture = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let configuration = try TrainingConfiguration.load(path: "Config/mnist-conv.json")
        let layout = ParameterLayout(configuration.architecture)
        let batch = 4, input = layout.architecture.inputSize, latent = layout.architecture.latentSize
        let model = VariationalAutoencoder(layout: layout, batchCapacity: batch)
        // Weights and biases in pairs, in buffer order (PyTorch's state_dict order), from the fixture's formulas.
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
