/// The shape of a VAE: an encoder (a list of layers) → the μ and log σ² heads (linear, on the flattened encoder
/// output) → z, under a prior → a decoder (a list of layers) → the likelihood's parameters, one per input value.
///
/// Two spellings: the MLP shorthand (`encoderHidden`, `decoderHidden`, `activation`: linear layers of those widths,
/// the activation after each hidden one, named `fc1, fc21, fc22, fc3…` as the PyTorch example names them), and
/// explicit layer lists (`encoderLayers`, `decoderLayers`, named as a PyTorch module whose `encoder` and
/// `decoder` are `nn.Sequential` of the same lists: `encoder.0.weight`, `fc_mu`, `fc_logvar`, `decoder.3.bias`).
public struct Architecture: Equatable, Sendable {
    /// One sample's shape: `[D]` for flat vectors, `[C, H, W]` for images.
    public var inputShape: [Int]
    /// Hidden widths of the shorthand encoder, first to last.
    public var encoderHidden: [Int]
    /// Dimension of z.
    public var latentSize: Int
    /// Hidden widths of the shorthand decoder, first to last.
    public var decoderHidden: [Int]
    /// The shorthand's nonlinearity after every hidden layer.
    public var activation: Activation
    /// The decoder's likelihood.
    public var likelihood: Likelihood
    /// The prior p(z) (N(0, I) unless set).
    public var prior: Prior = .standardNormal
    /// Explicit layer lists (nil: the shorthand).
    public var encoderLayers: [Layer]?
    public var decoderLayers: [Layer]?

    public init(
        inputSize: Int = 784, encoderHidden: [Int] = [400], latentSize: Int = 20,
        decoderHidden: [Int] = [400], activation: Activation = .relu, likelihood: Likelihood = .bernoulli
    ) {
        self.inputShape = [inputSize]
        self.encoderHidden = encoderHidden
        self.latentSize = latentSize
        self.decoderHidden = decoderHidden
        self.activation = activation
        self.likelihood = likelihood
    }

    /// A model of explicit layer lists.
    public init(inputShape: [Int], encoder: [Layer], latentSize: Int, decoder: [Layer], likelihood: Likelihood = .bernoulli) {
        self.init(
            inputSize: inputShape.reduce(1, *), encoderHidden: [], latentSize: latentSize, decoderHidden: [],
            likelihood: likelihood)
        self.inputShape = inputShape
        encoderLayers = encoder
        decoderLayers = decoder
    }

    /// Values per sample (784 for MNIST); setting it makes the input flat.
    public var inputSize: Int {
        get { elementCount(inputShape) }
        set { inputShape = [newValue] }
    }

    /// Whether the model is the MLP shorthand (else explicit layer lists).
    public var isShorthand: Bool { encoderLayers == nil && decoderLayers == nil }

    /// The encoder's layers: the list given, or the shorthand's linear layers each followed by the activation.
    public var encoder: [Layer] {
        encoderLayers ?? encoderHidden.flatMap { [.linear(out: $0), .activation(activation.function)] }
    }

    /// The decoder's layers: the list given, or the shorthand's (the last linear layer has no activation).
    public var decoder: [Layer] {
        decoderLayers
            ?? decoderHidden.flatMap { [Layer.linear(out: $0), .activation(activation.function)] } + [.linear(out: inputSize)]
    }

    /// The PyTorch MNIST VAE example: 784–400–20–400–784, ReLU, Bernoulli.
    public static let pytorchExample = Architecture()
}

extension Architecture {
    /// `784–400–20–400–784 relu bernoulli`, or for layer lists `[1, 28, 28] conv2d(32) relu … → 20 → … bernoulli`.
    public var describe: String {
        guard isShorthand else {
            func list(_ layers: [Layer]) -> String { layers.map(\.describe).joined(separator: " ") }
            let prior = self.prior.isStandardNormal ? "" : ", prior \(self.prior.describe)"
            return "\(inputShape) \(list(encoder)) → \(latentSize) → \(list(decoder)) \(likelihood.describe)" + prior
        }
        let widths = [inputSize] + encoderHidden + [latentSize] + decoderHidden + [inputSize]
        let prior = self.prior.isStandardNormal ? "" : ", prior \(self.prior.describe)"
        return widths.map(String.init).joined(separator: "–") + " \(activation.rawValue) \(likelihood.describe)" + prior
    }
}

extension Layer {
    /// For logs: `conv2d(32, k4 s2 p1)`, `relu`, `unflatten[64, 7, 7]`.
    public var describe: String {
        switch self {
        case .linear(let out): return "linear(\(out))"
        case .conv2d(let out, let k, let s, let p): return "conv2d(\(out), k\(k) s\(s) p\(p))"
        case .convTranspose2d(let out, let k, let s, let p, let op):
            return "conv_transpose2d(\(out), k\(k) s\(s) p\(p)\(op > 0 ? " op\(op)" : ""))"
        case .activation(let f): return f.name
        case .flatten: return "flatten"
        case .unflatten(let shape): return "unflatten\(shape)"
        case .groupNorm(let groups): return "group_norm(\(groups))"
        }
    }
}

extension ActivationFunction {
    /// The configuration's spelling.
    public var name: String {
        switch self {
        case .relu: return "relu"
        case .leakyRelu: return "leaky_relu"
        case .silu: return "silu"
        case .elu: return "elu"
        case .tanh: return "tanh"
        case .sigmoid: return "sigmoid"
        }
    }
}
