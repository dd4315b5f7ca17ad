/// One fully connected layer y = x·Wᵀ + b, as views into the parameter buffer (the heads).
public struct LinearLayout: Equatable, Sendable {
    public let weight: TensorView
    public let bias: TensorView
    public var inputSize: Int { weight.shape[1] }
    public var outputSize: Int { weight.shape[0] }
}

/// One layer of the encoder or decoder, placed: its input and output shapes and what the walker runs for it — its op
/// with its tensors in the parameter buffer (weight and bias, or GroupNorm's scale and shift) and, for a
/// convolution, its window. The cases carry exactly what each op needs, so nothing is looked up or unwrapped in a step.
public struct LayerPlan: Equatable, Sendable {
    /// A layer's weight and bias (GroupNorm's scale and shift) in the parameter buffer.
    public struct Tensors: Equatable, Sendable {
        public let weight: TensorView, bias: TensorView
    }

    /// What the walker runs.
    public enum Operation: Equatable, Sendable {
        case linear(Tensors)
        /// The window over its input.
        case conv2d(Tensors, ConvGeometry, outputChannels: Int)
        /// The window of the adjoint convolution, over its output.
        case convTranspose2d(Tensors, ConvGeometry, inputChannels: Int)
        case groupNorm(Tensors, channels: Int, planeSize: Int, groups: Int)
        case activation(ActivationFunction)
        /// flatten and unflatten: the same values under another shape.
        case reshape
    }

    public let layer: Layer
    public let inputShape: [Int], outputShape: [Int]
    public let operation: Operation

    /// Values per sample in and out (stored: a step reads them, and debug builds allocate in `reduce`).
    public let inputSize: Int, outputSize: Int

    /// Its weight and bias, when it has them.
    public var tensors: Tensors? {
        switch operation {
        case .linear(let t), .conv2d(let t, _, _), .convTranspose2d(let t, _, _), .groupNorm(let t, _, _, _): return t
        case .activation, .reshape: return nil
        }
    }

    /// A convolution's window.
    public var geometry: ConvGeometry? {
        switch operation {
        case .conv2d(_, let g, _), .convTranspose2d(_, let g, _): return g
        default: return nil
        }
    }

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
/// `decoder.3.weight` `[in, out, k, k]` for a ConvTranspose2d. A prior's tensors (the VampPrior's
/// `prior.pseudo_inputs`) follow the heads; a likelihood's learned per-pixel parameter adds its tensor `[inputSize]`
/// (the Gaussian's `x_logvar`). Buffer order: encoder, heads, prior, decoder, that tensor (the decoder's gradients a
/// contiguous tail).
public struct ParameterLayout: Equatable, Sendable {
    public let architecture: Architecture
    public let encoder: [LayerPlan]
    public let mean: LinearLayout
    public let logVariance: LinearLayout
    public let decoder: [LayerPlan]
    /// The prior's tensors (the VampPrior's pseudo-inputs), after the heads.
    public let priorTensors: [TensorView]
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
                func window(_ g: ConvGeometry?) throws -> ConvGeometry {
                    guard let g else {
                        throw ArchitectureError(
                            list: list, index: index, layer: layer.describe, input: shape, needs: "a window that fits")
                    }
                    return g
                }
                let operation: LayerPlan.Operation
                switch layer {
                case .linear(let out):
                    operation = .linear(
                        .init(weight: tensor("\(name).weight", [out, shape[0]]), bias: tensor("\(name).bias", [out])))
                    number += 1
                case .conv2d(let out, let k, let s, let p):
                    let tensors = LayerPlan.Tensors(
                        weight: tensor("\(name).weight", [out, shape[0], k, k]), bias: tensor("\(name).bias", [out]))
                    let g = ConvGeometry(channels: shape[0], height: shape[1], width: shape[2], kernel: k, stride: s, padding: p)
                    operation = .conv2d(tensors, try window(g), outputChannels: out)
                case .convTranspose2d(let out, let k, let s, let p, _):
                    let tensors = LayerPlan.Tensors(
                        weight: tensor("\(name).weight", [shape[0], out, k, k]), bias: tensor("\(name).bias", [out]))
                    let g = ConvGeometry(channels: out, height: output[1], width: output[2], kernel: k, stride: s, padding: p)
                    operation = .convTranspose2d(tensors, try window(g), inputChannels: shape[0])
                case .groupNorm(let groups):
                    let tensors = LayerPlan.Tensors(
                        weight: tensor("\(name).weight", [shape[0]]), bias: tensor("\(name).bias", [shape[0]]))
                    operation = .groupNorm(tensors, channels: shape[0], planeSize: shape[1] * shape[2], groups: groups)
                case .activation(let function): operation = .activation(function)
                case .flatten, .unflatten: operation = .reshape
                }
                if let shape = tooLarge {
                    throw ArchitectureError(
                        list: list, index: index, layer: layer.describe, input: shape, needs: "a weight of at most 2⁴⁰ values")
                }
                result.append(
                    LayerPlan(
                        layer: layer, inputShape: shape, outputShape: output, operation: operation,
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
        priorTensors = architecture.prior.kind.tensorShapes(inputShape: architecture.inputShape).map { tensor($0.name, $0.shape) }
        if let shape = tooLarge {
            throw ArchitectureError(
                list: "prior", index: 0, layer: architecture.prior.describe, input: shape, needs: "tensors of at most 2⁴⁰ values")
        }
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
                guard let t = plan.tensors else { return nil }
                if case .groupNorm = plan.operation { return (t.weight, t.bias, 1, true) }
                return (t.weight, t.bias, plan.fanIn, false)
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
        architecture.prior.kind.initialize(parameters, tensors: priorTensors, seed: seed)
    }
}

/// The number of values of a shape (an index loop: no allocation, even in debug builds).
@inlinable
public func elementCount(_ shape: [Int]) -> Int {
    var count = 1
    for index in 0..<shape.count { count *= shape[index] }
    return count
}
