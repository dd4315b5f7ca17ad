import Testing
import VAEModel

/// Finite differences against the hand-written backward, for every parameter of every tensor.
@Suite struct GradientTests {
    static let cases: [(String, Architecture)] = [
        (
            "bernoulli relu",
            Architecture(
                inputSize: 6, encoderHidden: [5], latentSize: 3, decoderHidden: [4], activation: .relu, likelihood: .bernoulli)
        ),
        (
            "bernoulli tanh, two hidden layers",
            Architecture(
                inputSize: 6, encoderHidden: [5, 4], latentSize: 2, decoderHidden: [3, 5], activation: .tanh,
                likelihood: .bernoulli)
        ),
        (
            "gaussian learned tanh",
            Architecture(
                inputSize: 5, encoderHidden: [4], latentSize: 2, decoderHidden: [4], activation: .tanh,
                likelihood: .gaussian(.learned))
        ),
        (
            "gaussian fixed relu",
            Architecture(
                inputSize: 5, encoderHidden: [6], latentSize: 3, decoderHidden: [5], activation: .relu,
                likelihood: .gaussian(.fixed(0.5)))
        ),
        (
            "layers: conv2d, group_norm, silu, leaky_relu, sigmoid; conv_transpose2d with output_padding, elu, tanh",
            Architecture(
                inputShape: [2, 6, 6],
                encoder: [
                    .conv2d(out: 4, kernel: 3, stride: 2, padding: 1), .groupNorm(groups: 2), .activation(.silu),
                    .conv2d(out: 3, kernel: 2, stride: 1, padding: 0), .activation(.leakyRelu(slope: 0.1)), .flatten,
                    .linear(out: 8), .activation(.sigmoid),
                ],
                latentSize: 3,
                decoder: [
                    .linear(out: 36), .activation(.elu), .unflatten([4, 3, 3]),
                    .convTranspose2d(out: 3, kernel: 3, stride: 2, padding: 1, outputPadding: 1), .activation(.tanh),
                    .conv2d(out: 2, kernel: 3, stride: 1, padding: 1),
                ], likelihood: .bernoulli)
        ),
        (
            "layers: the MNIST conv VAE's kinds, small, gaussian learned",
            Architecture(
                inputShape: [1, 8, 8],
                encoder: [
                    .conv2d(out: 4, kernel: 4, stride: 2, padding: 1), .activation(.relu),
                    .conv2d(out: 8, kernel: 4, stride: 2, padding: 1), .activation(.relu), .flatten, .linear(out: 6),
                    .activation(.relu),
                ],
                latentSize: 2,
                decoder: [
                    .linear(out: 32), .activation(.relu), .unflatten([8, 2, 2]),
                    .convTranspose2d(out: 4, kernel: 4, stride: 2, padding: 1, outputPadding: 0), .activation(.relu),
                    .convTranspose2d(out: 1, kernel: 4, stride: 2, padding: 1, outputPadding: 0),
                ], likelihood: .gaussian(.learned))
        ),
        (
            "no hidden layers",
            Architecture(
                inputSize: 4, encoderHidden: [], latentSize: 2, decoderHidden: [], activation: .tanh, likelihood: .bernoulli)
        ),
    ]

    /// A model with a fixed batch of 3 inputs in [0, 1] and fixed ε.
    static func model(_ architecture: Architecture, klWeight: Float = 1) -> VariationalAutoencoder {
        let layout = ParameterLayout(architecture)
        let model = VariationalAutoencoder(layout: layout, batchCapacity: 3, klWeight: klWeight)
        layout.initialize(model.parameters, seed: 7)
        var stream = RandomStream(seed: 3, purpose: .syntheticData)
        for i in 0..<(3 * architecture.inputSize) { model.input[i] = stream.nextUnitFloat() }
        stream.fillStandardNormal(model.epsilon, count: 3 * architecture.latentSize)
        return model
    }

    @Test(arguments: 0..<cases.count)
    func backwardMatchesFiniteDifferences(caseIndex: Int) {
        let (name, architecture) = GradientTests.cases[caseIndex]
        let model = GradientTests.model(architecture, klWeight: 0.7)
        // ReLU's kink: a step of 1e-2 can carry a pre-activation across zero, so ReLU models use 1e-3
        // (float rounding then still stays far below the tolerance).
        let h: Float = architecture.activation == .relu ? 1e-3 : 1e-2
        // Tolerance: 2 % relative plus 1e-3 absolute. The loss is summed in float per row, so a central
        // difference over 2h = 2e-3 is quantized to ≈ 2.4e-4; a wrong formula is off by far more. The layer
        // models' losses are tens of nats over 64–72 values (float's rounding of the loss ≈ 1e-5, over
        // 2h ≈ 1e-2): 2e-2 absolute there; PyTorchGradientTests checks them to 1e-4 relative.
        let absolute: Float = architecture.isShorthand ? 1e-3 : 2e-2
        let (worst, checked) = finiteDifferenceErrors(model, batch: 3, h: h) { absolute + 2e-2 * max(abs($0), abs($1)) }
        for (tensor, ratio) in worst { #expect(ratio <= 1, "\(name): \(tensor) gradient error \(ratio)× the tolerance") }
        #expect(checked == model.layout.count)
    }

    @Test func gradientOfSumIsSumOfGradients() {
        // The basis of data parallelism: the gradient of a summed loss over rows 0..<3 equals the sum of the
        // gradients of row subsets, so ranks can each take a slice and add.
        let architecture = GradientTests.cases[0].1
        let whole = GradientTests.model(architecture)
        whole.forward(batch: 3, training: true)
        whole.backward(batch: 3)
        let first = GradientTests.model(architecture)
        first.forward(batch: 1, training: true)
        first.backward(batch: 1)
        let rest = GradientTests.model(architecture)
        let width = architecture.inputSize, latent = architecture.latentSize
        rest.input.update(from: whole.input + width, count: 2 * width)
        rest.epsilon.update(from: whole.epsilon + latent, count: 2 * latent)
        rest.forward(batch: 2, training: true)
        rest.backward(batch: 2)
        for i in 0..<whole.gradients.count {
            let sum = first.gradients.pointer[i] + rest.gradients.pointer[i]
            #expect(abs(sum - whole.gradients.pointer[i]) <= 1e-5 + 1e-5 * abs(sum))
        }
    }
}
