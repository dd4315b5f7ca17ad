/// The nonlinearity between linear layers.
public enum Activation: String, CaseIterable, Sendable, Codable {
    case relu
    case tanh
}

/// The shape of a VAE: encoder MLP → (μ, log σ²) heads → z → decoder MLP → likelihood parameters.
public struct Architecture: Equatable, Sendable {
    /// Pixels per sample (784 for MNIST).
    public var inputSize: Int
    /// Hidden widths of the encoder, first to last.
    public var encoderHidden: [Int]
    /// Dimension of z.
    public var latentSize: Int
    /// Hidden widths of the decoder, first to last.
    public var decoderHidden: [Int]
    /// Nonlinearity after every hidden layer.
    public var activation: Activation
    /// The decoder's likelihood.
    public var likelihood: Likelihood

    public init(
        inputSize: Int = 784, encoderHidden: [Int] = [400], latentSize: Int = 20,
        decoderHidden: [Int] = [400], activation: Activation = .relu, likelihood: Likelihood = .bernoulli
    ) {
        self.inputSize = inputSize
        self.encoderHidden = encoderHidden
        self.latentSize = latentSize
        self.decoderHidden = decoderHidden
        self.activation = activation
        self.likelihood = likelihood
    }

    /// The PyTorch MNIST VAE example: 784–400–20–400–784, ReLU, Bernoulli.
    public static let pytorchExample = Architecture()
}

extension Architecture {
    /// `784–400–20–400–784 relu bernoulli`.
    public var describe: String {
        let widths = [inputSize] + encoderHidden + [latentSize] + decoderHidden + [inputSize]
        return widths.map(String.init).joined(separator: "–") + " \(activation.rawValue) \(likelihood.describe)"
    }
}

/// One fully connected layer y = x·Wᵀ + b, as views into the parameter buffer.
public struct LinearLayout: Equatable, Sendable {
    public let weight: TensorView
    public let bias: TensorView
    public var inputSize: Int { weight.shape[1] }
    public var outputSize: Int { weight.shape[0] }
}

/// Where every tensor of a VAE lives in the flat parameter buffer, and its checkpoint name.
///
/// Naming scheme (one rule for every depth, equal to the PyTorch example's module for the default):
/// linear layers are numbered in order `fc1, fc2, …`; the encoder's k hidden layers are `fc1…fck`, the
/// two heads are `fc(k+1)1` (μ) and `fc(k+1)2` (log σ²), and the decoder's layers continue the count
/// `fc(k+2)…`, its last layer producing the likelihood's parameters. 784–400–20–400–784 gives `fc1`,
/// `fc21`, `fc22`, `fc3`, `fc4`; the IWAE setup 784–200–200–50 gives `fc1, fc2, fc31, fc32, fc4, fc5, fc6`.
/// Weights are `[out, in]` row-major, as `nn.Linear` stores them. A learned Gaussian variance adds
/// `x_logvar` `[inputSize]`.
public struct ParameterLayout: Equatable, Sendable {
    public let architecture: Architecture
    public let encoder: [LinearLayout]
    public let mean: LinearLayout
    public let logVariance: LinearLayout
    public let decoder: [LinearLayout]
    public let outputLogVariance: TensorView?
    /// Every tensor, in buffer order.
    public let tensors: [TensorView]
    /// Where the decoder's parameters begin: those after it (to the end) get their gradients in backward's first
    /// half, those before it in the second.
    public var decoderStart: Int { decoder[0].weight.offset }
    /// Total number of parameters.
    public let count: Int

    public init(_ architecture: Architecture) {
        self.architecture = architecture
        var offset = 0
        var tensors: [TensorView] = []
        func tensor(_ name: String, _ shape: [Int]) -> TensorView {
            let view = TensorView(name: name, shape: shape, offset: offset)
            offset += view.count
            tensors.append(view)
            return view
        }
        func linear(_ name: String, _ inputs: Int, _ outputs: Int) -> LinearLayout {
            LinearLayout(weight: tensor("\(name).weight", [outputs, inputs]), bias: tensor("\(name).bias", [outputs]))
        }
        var number = 1
        var width = architecture.inputSize
        var encoder: [LinearLayout] = []
        for hidden in architecture.encoderHidden {
            encoder.append(linear("fc\(number)", width, hidden))
            width = hidden
            number += 1
        }
        mean = linear("fc\(number)1", width, architecture.latentSize)
        logVariance = linear("fc\(number)2", width, architecture.latentSize)
        number += 1
        width = architecture.latentSize
        var decoder: [LinearLayout] = []
        for hidden in architecture.decoderHidden + [architecture.inputSize] {
            decoder.append(linear("fc\(number)", width, hidden))
            width = hidden
            number += 1
        }
        outputLogVariance = architecture.likelihood.learnsOutputLogVariance ? tensor("x_logvar", [architecture.inputSize]) : nil
        self.encoder = encoder
        self.decoder = decoder
        self.tensors = tensors
        self.count = offset
    }

    /// The linear layers in buffer order.
    public var linearLayers: [LinearLayout] { encoder + [mean, logVariance] + decoder }

    /// Fills `parameters` as PyTorch's `nn.Linear` does: weight and bias uniform in ±1/√fan_in
    /// (kaiming_uniform with a = √5 gives exactly that bound). Each tensor draws from its own stream
    /// keyed by (seed, tensor number). A learned output log-variance starts at 0 (σ² = 1).
    public func initialize(_ parameters: FlatBuffer, seed: UInt64) {
        precondition(parameters.count == count, "parameter buffer has \(parameters.count) floats, layout needs \(count)")
        for (number, layer) in linearLayers.enumerated() {
            let bound = 1 / Float(layer.inputSize).squareRoot()
            for (part, view) in [layer.weight, layer.bias].enumerated() {
                var stream = RandomStream(seed: seed, purpose: .initialization, epoch: UInt64(number), index: UInt64(part))
                let p = parameters.pointer(to: view)
                for i in 0..<view.count { p[i] = (2 * stream.nextUnitFloat() - 1) * bound }
            }
        }
        if let logVariance = outputLogVariance {
            parameters.pointer(to: logVariance).update(repeating: 0, count: logVariance.count)
        }
    }
}
