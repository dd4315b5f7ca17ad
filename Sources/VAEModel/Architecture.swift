/// The shape of a VAE: an encoder (a list of layers) → the μ and log σ² heads (linear, on the flattened encoder
/// output) → z → a decoder (a list of layers) → the likelihood's parameters, one per input value.
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
            return "\(inputShape) \(list(encoder)) → \(latentSize) → \(list(decoder)) \(likelihood.describe)"
        }
        let widths = [inputSize] + encoderHidden + [latentSize] + decoderHidden + [inputSize]
        return widths.map(String.init).joined(separator: "–") + " \(activation.rawValue) \(likelihood.describe)"
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

/// One fully connected layer y = x·Wᵀ + b, as views into the parameter buffer (the heads).
public struct LinearLayout: Equatable, Sendable {
    public let weight: TensorView
    public let bias: TensorView
    public var inputSize: Int { weight.shape[1] }
    public var outputSize: Int { weight.shape[0] }
}

/// One layer of the encoder or decoder, placed: its input and output shapes, its tensors in the parameter buffer
/// (weight and bias, or GroupNorm's scale and shift), and a convolution's window.
public struct LayerPlan: Equatable, Sendable {
    public let layer: Layer
    public let inputShape: [Int], outputShape: [Int]
    public let weight: TensorView?, bias: TensorView?
    /// The convolution's window: Conv2d's over its input, ConvTranspose2d's adjoint one over its output.
    public let geometry: ConvGeometry?

    /// Values per sample in and out (stored: a step reads them, and debug builds allocate in `reduce`).
    public let inputSize: Int, outputSize: Int
    /// Fan-in for PyTorch's default initialization bound 1/√fan_in (ConvTranspose2d's from its weight's dim 1).
    var fanIn: Int {
        switch layer {
        case .linear: return inputSize
        case .conv2d(_, let k, _, _): return inputShape[0] * k * k
        case .convTranspose2d(let out, let k, _, _, _): return out * k * k
        default: return 1
        }
    }
}

/// Why a model's layers do not fit: the list, the layer's index, what it got and what it needs.
public struct ArchitectureError: Error, Equatable, Sendable, CustomStringConvertible {
    public let list: String
    public let index: Int
    public let layer: String
    public let input: [Int]
    public let needs: String
    public var description: String { "\(list)[\(index)] (\(layer)) gets shape \(input) but needs \(needs)" }
}

/// Where every tensor of a VAE lives in the flat parameter buffer, and its checkpoint name.
///
/// The shorthand's naming (one rule for every depth, equal to the PyTorch example's module for the default): linear
/// layers are numbered in order `fc1, fc2, …`; the encoder's k hidden layers are `fc1…fck`, the two heads are
/// `fc(k+1)1` (μ) and `fc(k+1)2` (log σ²), and the decoder's layers continue the count `fc(k+2)…`. 784–400–20–400–784
/// gives `fc1`, `fc21`, `fc22`, `fc3`, `fc4`; the IWAE setup 784–200–200–50 gives `fc1, fc2, fc31, fc32, fc4, fc5,
/// fc6`. Layer lists are named as PyTorch names a module with `encoder` and `decoder` `nn.Sequential`s of the same
/// lists (activations and reshapes count) and heads `fc_mu`, `fc_logvar`: `encoder.0.weight` `[out, in, k, k]`,
/// `decoder.3.weight` `[in, out, k, k]` for a ConvTranspose2d. A likelihood's learned per-pixel parameter adds its
/// tensor `[inputSize]` (the Gaussian's `x_logvar`). Buffer order: encoder, heads, decoder, that tensor (the
/// decoder's gradients a contiguous tail).
public struct ParameterLayout: Equatable, Sendable {
    public let architecture: Architecture
    public let encoder: [LayerPlan]
    public let mean: LinearLayout
    public let logVariance: LinearLayout
    public let decoder: [LayerPlan]
    public let pixelParameter: TensorView?
    /// Every tensor, in buffer order.
    public let tensors: [TensorView]
    /// Where the decoder's parameters begin: those after it (to the end) get their gradients in backward's first
    /// half, those before it in the second.
    public let decoderStart: Int
    /// Total number of parameters.
    public let count: Int

    /// The layout of `architecture`; traps when the layers do not fit (``checked(_:)`` says why, first).
    public init(_ architecture: Architecture) {
        switch ParameterLayout.checked(architecture) {
        case .success(let layout): self = layout
        case .failure(let error): preconditionFailure("\(error)")
        }
    }

    /// The layout, or which layer does not fit its input (nothing is allocated either way).
    public static func checked(_ architecture: Architecture) -> Result<ParameterLayout, ArchitectureError> {
        Result { try ParameterLayout(checking: architecture) }.mapError { $0 as! ArchitectureError }
    }

    private init(checking architecture: Architecture) throws {
        self.architecture = architecture
        var offset = 0
        var tensors: [TensorView] = []
        var tooLarge: [Int]? = nil
        func tensor(_ name: String, _ shape: [Int]) -> TensorView {
            var count = 1
            for size in shape {
                let product = count.multipliedReportingOverflow(by: size)
                if product.overflow || product.partialValue > 1 << 40 { tooLarge = shape }
                count = product.overflow ? 1 : product.partialValue
            }
            let view = TensorView(name: name, shape: tooLarge == nil ? shape : [0], offset: offset)
            offset += tooLarge == nil ? count : 0
            tensors.append(view)
            return view
        }
        let shorthand = architecture.isShorthand
        var number = 1  // the shorthand's fcN count
        func plans(_ layers: [Layer], _ list: String, from shape: [Int]) throws -> [LayerPlan] {
            var shape = shape
            var result: [LayerPlan] = []
            for (index, layer) in layers.enumerated() {
                let output: [Int]
                switch layer.outputShape(for: shape) {
                case .success(let s): output = s
                case .failure(let e):
                    throw ArchitectureError(list: list, index: index, layer: layer.describe, input: e.input, needs: e.needs)
                }
                var values = 1
                for size in output {
                    let product = values.multipliedReportingOverflow(by: size)
                    guard !product.overflow, product.partialValue <= 1 << 40 else {
                        throw ArchitectureError(
                            list: list, index: index, layer: layer.describe, input: shape,
                            needs: "an output of at most 2⁴⁰ values")
                    }
                    values = product.partialValue
                }
                let name = shorthand ? "fc\(number)" : "\(list).\(index)"
                var weight: TensorView?, bias: TensorView?, geometry: ConvGeometry?
                switch layer {
                case .linear(let out):
                    (weight, bias) = (tensor("\(name).weight", [out, shape[0]]), tensor("\(name).bias", [out]))
                    number += 1
                case .conv2d(let out, let k, let s, let p):
                    (weight, bias) = (tensor("\(name).weight", [out, shape[0], k, k]), tensor("\(name).bias", [out]))
                    geometry = ConvGeometry(
                        channels: shape[0], height: shape[1], width: shape[2], kernel: k, stride: s, padding: p)
                case .convTranspose2d(let out, let k, let s, let p, _):
                    (weight, bias) = (tensor("\(name).weight", [shape[0], out, k, k]), tensor("\(name).bias", [out]))
                    geometry = ConvGeometry(channels: out, height: output[1], width: output[2], kernel: k, stride: s, padding: p)
                case .groupNorm:
                    (weight, bias) = (tensor("\(name).weight", [shape[0]]), tensor("\(name).bias", [shape[0]]))
                case .activation, .flatten, .unflatten: break
                }
                if let shape = tooLarge {
                    throw ArchitectureError(
                        list: list, index: index, layer: layer.describe, input: shape, needs: "a weight of at most 2⁴⁰ values")
                }
                result.append(
                    LayerPlan(
                        layer: layer, inputShape: shape, outputShape: output, weight: weight, bias: bias, geometry: geometry,
                        inputSize: elementCount(shape), outputSize: elementCount(output)))
                shape = output
            }
            return result
        }
        encoder = try plans(architecture.encoder, "encoder", from: architecture.inputShape)
        let features = encoder.last?.outputShape ?? architecture.inputShape
        guard features.count == 1 else {
            throw ArchitectureError(
                list: "encoder", index: encoder.count - 1, layer: encoder.last?.layer.describe ?? "input", input: features,
                needs: "a flat output for the μ and log σ² heads (end the encoder with \"flatten\")")
        }
        let (meanName, logVarianceName) = shorthand ? ("fc\(number)1", "fc\(number)2") : ("fc_mu", "fc_logvar")
        let latent = architecture.latentSize
        mean = LinearLayout(
            weight: tensor("\(meanName).weight", [latent, features[0]]), bias: tensor("\(meanName).bias", [latent]))
        logVariance = LinearLayout(
            weight: tensor("\(logVarianceName).weight", [latent, features[0]]), bias: tensor("\(logVarianceName).bias", [latent]))
        number += 1
        decoderStart = offset
        decoder = try plans(architecture.decoder, "decoder", from: [latent])
        let produced = decoder.last?.outputShape ?? [latent]
        guard produced.reduce(1, *) == architecture.inputSize, !decoder.isEmpty else {
            throw ArchitectureError(
                list: "decoder", index: max(decoder.count - 1, 0), layer: decoder.last?.layer.describe ?? "latent",
                input: produced, needs: "to end in the input's shape \(architecture.inputShape), one value per input value")
        }
        pixelParameter = architecture.likelihood.pixelParameterName.map { tensor($0, [architecture.inputSize]) }
        self.tensors = tensors
        self.count = offset
    }

    /// The layers with parameters in buffer order (GroupNorm's too), each with its fan-in; the heads after the encoder.
    var parametricLayers: [(weight: TensorView, bias: TensorView, fanIn: Int, isNormalization: Bool)] {
        func parametric(_ plans: [LayerPlan]) -> [(weight: TensorView, bias: TensorView, fanIn: Int, isNormalization: Bool)] {
            plans.compactMap { plan in
                guard let weight = plan.weight, let bias = plan.bias else { return nil }
                if case .groupNorm = plan.layer { return (weight, bias, 1, true) }
                return (weight, bias, plan.fanIn, false)
            }
        }
        return parametric(encoder) + [mean, logVariance].map { ($0.weight, $0.bias, $0.inputSize, false) } + parametric(decoder)
    }

    /// The shorthand's linear layers in buffer order (the heads included).
    public var linearLayers: [LinearLayout] {
        parametricLayers.filter { $0.weight.shape.count == 2 }.map { LinearLayout(weight: $0.weight, bias: $0.bias) }
    }

    /// Fills `parameters` as PyTorch's modules do: a weight and bias uniform in ±1/√fan_in (kaiming_uniform with
    /// a = √5 gives exactly that bound; fan_in = in·k² for Conv2d, out·k² for ConvTranspose2d as PyTorch reads
    /// its weight), GroupNorm's scale 1 and shift 0. Each tensor draws from its own stream keyed by (seed, layer
    /// number, part). A learned per-pixel parameter starts at its likelihood's value (the Gaussian's log-variance at 0: σ² = 1).
    public func initialize(_ parameters: FlatBuffer, seed: UInt64) {
        precondition(parameters.count == count, "parameter buffer has \(parameters.count) floats, layout needs \(count)")
        for (number, layer) in parametricLayers.enumerated() {
            if layer.isNormalization {
                parameters.pointer(to: layer.weight).update(repeating: 1, count: layer.weight.count)
                parameters.pointer(to: layer.bias).update(repeating: 0, count: layer.bias.count)
                continue
            }
            let bound = 1 / Float(layer.fanIn).squareRoot()
            for (part, view) in [layer.weight, layer.bias].enumerated() {
                var stream = RandomStream(seed: seed, purpose: .initialization, epoch: UInt64(number), index: UInt64(part))
                let p = parameters.pointer(to: view)
                for i in 0..<view.count { p[i] = (2 * stream.nextUnitFloat() - 1) * bound }
            }
        }
        if let pixel = pixelParameter {
            parameters.pointer(to: pixel).update(repeating: architecture.likelihood.initialPixelParameter, count: pixel.count)
        }
    }
}

/// The number of values of a shape (an index loop: no allocation, even in debug builds).
@inlinable
public func elementCount(_ shape: [Int]) -> Int {
    var count = 1
    for index in 0..<shape.count { count *= shape[index] }
    return count
}
