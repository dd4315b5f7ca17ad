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

    /// The default model trained on the IWAE bound (K = 3) against a VampPrior (4 pseudo-inputs): the objective's
    /// normalized weights and the mixture's gradients, the pseudo-inputs' through the encoder. The IWAE's weights are
    /// exponentials of log-likelihoods of ≈ 540 nats whose float32 sums differ between the two sides by ≈ 1e-4 nats,
    /// so this case allows 2e-3 relative; the worst measured is 4.3e-4 (fc21.weight). A wrong term is off by far more: a
    /// missing β·(−½) per log σ² or a dropped mixture path moves the tensors it reaches by whole percents.
    @Test func iwaeWithAVampPriorMatchesPyTorchsAutograd() throws {
        var architecture = Architecture.pytorchExample
        architecture.prior = ObjectiveGradientTests.vamp(4)
        try Self.compare(
            ParameterLayout(architecture), objective: ObjectiveGradientTests.iwae(3), fixture: "pytorch-gradients-iwae-vamp.json",
            relative: 2e-3)
    }

    /// One batch of 4 through `layout`'s model with the formulas' weights, batch, pseudo-inputs and ε (K rows per
    /// sample), against the fixture.
    static func compare(
        _ layout: ParameterLayout, objective: Objective = .elbo, fixture name: String, relative: Double = 1e-4
    ) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: "Tests/VAEDistTests/Fixtures/" + name))
        let fixture = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let batch = 4, input = layout.architecture.inputSize, latent = layout.architecture.latentSize
        let model = VariationalAutoencoder(layout: layout, batchCapacity: batch, objective: objective)
        // Weight and bias pairs in buffer order, numbered as the formula counts them (a prior's tensors apart).
        let pairs = layout.tensors.filter { !layout.priorTensors.contains($0) }
        for number in 0..<(pairs.count / 2) {
            let weight = pairs[2 * number], bias = pairs[2 * number + 1]
            let fan = weight.count / weight.shape[0]
            let w = model.parameters.pointer(to: weight), b = model.parameters.pointer(to: bias)
            for i in 0..<weight.count {
                w[i] = Float(Double((i * 7919 + number * 104729) % 2001 - 1000) / 1000.0 / Double(fan).squareRoot())
            }
            for i in 0..<bias.count { b[i] = Float(Double((i * 131 + number * 17) % 201 - 100) / 1000.0) }
        }
        for view in layout.priorTensors {
            let u = model.parameters.pointer(to: view)
            for i in 0..<view.count { u[i] = Float(Double((i * 17) % 256) / 255.0) }
        }
        for i in 0..<(batch * input) { model.input[i] = Float(Double((i * 31) % 256) / 255.0) }
        for i in 0..<(batch * objective.samplesPerInput * latent) { model.epsilon[i] = Float(Double((i * 7) % 13 - 6) / 4.0) }

        let terms = model.forward(batch: batch, training: true)
        model.backward(batch: batch)

        expectClose(terms.reconstruction, try #require(fixture["reconstruction"] as? Double), relative: 1e-5, absolute: 0)
        expectClose(terms.kl, try #require(fixture["kl"] as? Double), relative: 1e-4, absolute: 0)
        if let loss = fixture["loss"] as? Double { expectClose(terms.loss, loss, relative: 1e-5, absolute: 0) }
        let gradients = try #require(fixture["gradients"] as? [String: [String: Any]])
        #expect(gradients.count == layout.tensors.count)
        for tensor in layout.tensors {
            let theirs = try #require(gradients[tensor.name], "no \(tensor.name) in the fixture")
            let ours = model.gradients.pointer(to: tensor)
            #expect(theirs["count"] as? Int == tensor.count, "\(tensor.name)")
            let sumOfSquares = (0..<tensor.count).reduce(0.0) { $0 + Double(ours[$1]) * Double(ours[$1]) }
            expectClose(
                sumOfSquares, try #require(theirs["sum_of_squares"] as? Double), relative: 2 * relative, absolute: 0,
                "\(tensor.name)")
            let indices = try #require(theirs["indices"] as? [Int]), values = try #require(theirs["values"] as? [Double])
            let scale = values.map(abs).max() ?? 0
            let worst =
                zip(indices, values).map { index, value in
                    abs(Double(ours[index]) - value) / (relative * abs(value) + 0.1 * relative * scale)
                }.max() ?? 0
            #expect(
                worst <= 1,
                "\(tensor.name): worst gradient difference \(worst)× the tolerance (relative \(relative), absolute a tenth of that of the largest)"
            )
        }
    }
}
