#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A VAE over a flat parameter buffer, with every activation buffer preallocated for `batchCapacity` rows.
///
/// Usage per step: write the batch into ``input`` and ε into ``epsilon``, call ``forward(batch:training:gradients:)``
/// with `training: true`, then ``backward(batch:gradients:)``. Nothing is allocated after `init`.
/// The loss is a *sum* over the batch, as in the PyTorch example.
///
/// One walker runs the encoder's and the decoder's layer lists forward and backward (``LayerPlan``s, each layer's
/// op pair in its own file). An activation after a layer with parameters works in place on that layer's output,
/// flatten and unflatten are views of their input: the MLP keeps the memory and the bits it always had.
///
/// Gradient rule: a training pass **overwrites** every gradient it owns (every layer is called with
/// `accumulate: false`); where two paths meet (the two heads' input gradients, the KL and reparameterization paths
/// into μ and log σ²) the sum is written by the op that sees both. A training pass therefore writes every element of
/// the gradient buffer, and no buffer needs zeroing first.
public final class VariationalAutoencoder {
    public let layout: ParameterLayout
    public let batchCapacity: Int
    /// β, the KL weight.
    public var klWeight: Float
    public let parameters: FlatBuffer
    public let gradients: FlatBuffer
    /// The batch, `[batchCapacity, inputSize]`, written by the caller.
    public let input: UnsafeMutablePointer<Float>
    /// ε ~ N(0, I), `[batchCapacity, latentSize]`, written by the caller.
    public let epsilon: UnsafeMutablePointer<Float>

    // Forward state kept for backward: each layer's input and output (views where a layer works in place).
    let encoderInputs: [UnsafeMutablePointer<Float>], encoderOutputs: [UnsafeMutablePointer<Float>]
    public let mean: UnsafeMutablePointer<Float>
    public let logVariance: UnsafeMutablePointer<Float>
    let standardDeviation: UnsafeMutablePointer<Float>
    /// z, `[batchCapacity, latentSize]`; ``decode(batch:)`` reads it.
    public let latent: UnsafeMutablePointer<Float>
    let decoderInputs: [UnsafeMutablePointer<Float>], decoderOutputs: [UnsafeMutablePointer<Float>]
    /// The encoder's output, the heads' input.
    let features: UnsafeMutablePointer<Float>
    /// The decoder's last layer: Bernoulli logits or Gaussian means, `[batchCapacity, inputSize]`.
    public let output: UnsafeMutablePointer<Float>
    /// GroupNorm's per-sample statistics, one buffer per layer (one shared unused float for the other layers).
    let encoderStatistics: [UnsafeMutablePointer<Float>], decoderStatistics: [UnsafeMutablePointer<Float>]
    /// A convolution's columns for one sample, the widest.
    let columns: UnsafeMutablePointer<Float>
    /// Where the encoder's backward stops (nil: no layer with parameters, the heads read the input).
    let firstEncoderLayerWithParameters: Int?

    // Backward scratch: ∂loss/∂(a layer's activations), `[batchCapacity, widest layer]`, in two buffers that swap
    // roles (upstream and the next one down) as backward walks the layers. The likelihood writes its gradient
    // w.r.t. the decoder output into the first, where backward starts.
    let activationGradient: UnsafeMutablePointer<Float>
    let spareActivationGradient: UnsafeMutablePointer<Float>
    let meanGradient: UnsafeMutablePointer<Float>
    let logVarianceGradient: UnsafeMutablePointer<Float>
    let latentGradient: UnsafeMutablePointer<Float>
    let fixedLogVariance: UnsafeMutablePointer<Float>
    private var allocations: [UnsafeMutablePointer<Float>] = []

    /// A model for batches of up to `batchCapacity` rows. Parameters and gradients are allocated here unless
    /// given (node-shared memory); given buffers must have `layout.count` elements.
    public init(
        layout: ParameterLayout, batchCapacity: Int, klWeight: Float = 1,
        parameters: FlatBuffer? = nil, gradients: FlatBuffer? = nil
    ) {
        precondition(batchCapacity > 0, "batch capacity must be positive")
        precondition(
            (parameters?.count ?? layout.count) == layout.count && (gradients?.count ?? layout.count) == layout.count,
            "parameter or gradient buffer has the wrong size")
        self.layout = layout
        self.batchCapacity = batchCapacity
        self.klWeight = klWeight
        self.parameters = parameters ?? FlatBuffer(count: layout.count)
        self.gradients = gradients ?? FlatBuffer(count: layout.count)
        var allocations: [UnsafeMutablePointer<Float>] = []
        func buffer(_ width: Int, rows: Int = batchCapacity) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(rows * width, 1))
            p.initialize(repeating: 0, count: max(rows * width, 1))
            allocations.append(p)
            return p
        }
        let architecture = layout.architecture
        let plans = layout.encoder + layout.decoder
        let widest = ([architecture.inputSize, architecture.latentSize] + plans.map(\.outputSize)).max()!
        input = buffer(architecture.inputSize)
        epsilon = buffer(architecture.latentSize)
        /// Each layer's input and output buffer: a view of its input for flatten and unflatten and for an activation
        /// right after a layer with parameters, else its own.
        func walk(
            _ plans: [LayerPlan], from first: UnsafeMutablePointer<Float>
        )
            -> (inputs: [UnsafeMutablePointer<Float>], outputs: [UnsafeMutablePointer<Float>])
        {
            var inputs: [UnsafeMutablePointer<Float>] = [], outputs: [UnsafeMutablePointer<Float>] = []
            var current = first, producedByParameters = false
            for plan in plans {
                inputs.append(current)
                switch plan.layer {
                case .flatten, .unflatten:
                    break
                case .activation(let function) where producedByParameters && !function.backwardNeedsInput:
                    producedByParameters = false
                default:
                    current = buffer(plan.outputSize)
                    producedByParameters = plan.layer.hasParameters
                }
                outputs.append(current)
            }
            return (inputs, outputs)
        }
        (encoderInputs, encoderOutputs) = walk(layout.encoder, from: input)
        features = encoderOutputs.last ?? input
        mean = buffer(architecture.latentSize)
        logVariance = buffer(architecture.latentSize)
        standardDeviation = buffer(architecture.latentSize)
        latent = buffer(architecture.latentSize)
        (decoderInputs, decoderOutputs) = walk(layout.decoder, from: latent)
        output = decoderOutputs.last!
        let unused = buffer(1, rows: 1)
        func statistics(_ plan: LayerPlan) -> UnsafeMutablePointer<Float> {
            guard case .groupNorm(_, _, _, let groups) = plan.operation else { return unused }
            return buffer(2 * groups)
        }
        encoderStatistics = layout.encoder.map(statistics)
        firstEncoderLayerWithParameters = layout.encoder.firstIndex { $0.layer.hasParameters }
        decoderStatistics = layout.decoder.map(statistics)
        columns = buffer(plans.compactMap { $0.geometry.map { $0.patchSize * $0.positions } }.max() ?? 1, rows: 1)
        activationGradient = buffer(widest)
        spareActivationGradient = buffer(widest)
        meanGradient = buffer(architecture.latentSize)
        logVarianceGradient = buffer(architecture.latentSize)
        latentGradient = buffer(architecture.latentSize)
        fixedLogVariance = .allocate(capacity: architecture.inputSize)
        fixedLogVariance.initialize(repeating: architecture.likelihood.fixedPixelParameter, count: architecture.inputSize)
        allocations.append(fixedLogVariance)
        self.allocations = allocations
    }

    deinit { for p in allocations { p.deallocate() } }

    private func weights(_ layer: LinearLayout) -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
        (parameters.pointer(to: layer.weight), parameters.pointer(to: layer.bias))
    }

    /// The per-pixel log-variance of a Gaussian likelihood (learned or fixed).
    var pixelParameter: UnsafeMutablePointer<Float> {
        if let view = layout.pixelParameter { return parameters.pointer(to: view) }
        return fixedLogVariance
    }

    /// Encoder to (μ, log σ²) for the first `batch` rows of ``input``.
    public func encode(batch: Int) {
        for index in 0..<layout.encoder.count {  // index loops: no iterator boxes, even in debug builds
            forward(
                layout.encoder[index], input: encoderInputs[index], output: encoderOutputs[index],
                statistics: encoderStatistics[index], batch: batch)
        }
        let (meanWeight, meanBias) = weights(layout.mean)
        Linear.forward(
            input: features, weight: meanWeight, bias: meanBias, output: mean, batch: batch,
            inputSize: layout.mean.inputSize, outputSize: layout.mean.outputSize)
        let (logVarianceWeight, logVarianceBias) = weights(layout.logVariance)
        Linear.forward(
            input: features, weight: logVarianceWeight, bias: logVarianceBias, output: logVariance, batch: batch,
            inputSize: layout.logVariance.inputSize, outputSize: layout.logVariance.outputSize)
    }

    /// Decoder from ``latent`` to ``output`` (logits or means) for the first `batch` rows.
    public func decode(batch: Int) {
        for index in 0..<layout.decoder.count {
            forward(
                layout.decoder[index], input: decoderInputs[index], output: decoderOutputs[index],
                statistics: decoderStatistics[index], batch: batch)
        }
    }

    /// Full forward pass for the first `batch` rows: encode, z = μ + σ ⊙ ε, decode, and the loss terms
    /// against ``input`` as the target. With `training`, the loss ops also write their gradients (fused into the
    /// same pass) for ``backward(batch:gradients:)``; a learned output variance's gradient goes into `gradients`
    /// (default ``gradients``), which must then be the buffer backward writes too.
    @discardableResult
    public func forward(batch: Int, training: Bool = false, gradients target: FlatBuffer? = nil) -> LossTerms {
        precondition(batch > 0 && batch <= batchCapacity, "batch \(batch) outside 1...\(batchCapacity)")
        let architecture = layout.architecture
        let latentCount = batch * architecture.latentSize
        encode(batch: batch)
        Reparameterization.forward(
            mean: mean, logVariance: logVariance, epsilon: epsilon,
            standardDeviation: standardDeviation, latent: latent, count: latentCount)
        decode(batch: batch)
        let kl = GaussianKL.forward(
            mean: mean, logVariance: logVariance, standardDeviation: standardDeviation,
            count: latentCount, weight: klWeight,
            meanGradient: training ? meanGradient : nil,
            logVarianceGradient: training ? logVarianceGradient : nil)
        let reconstruction = architecture.likelihood.negativeLogLikelihood(
            self, firstRow: 0, rows: batch, gradients: training ? (target ?? gradients) : nil)
        return LossTerms(reconstruction: reconstruction, kl: kl, samples: batch)
    }

    /// The gradient buffer's range that ``backwardDecoder(batch:gradients:)`` writes (decoder layers and a
    /// learned output variance sit after the encoder and heads in the layout).
    public var decoderGradientRange: Range<Int> { layout.decoderStart..<layout.count }

    /// Backward pass after ``forward(batch:training:gradients:)`` with `training: true` and the same `batch` and
    /// buffer: overwrites every entry of `gradients` (default ``gradients``) with ∂/∂θ of Σ_batch [−log p(x|z) + β KL].
    /// The same as ``backwardDecoder(batch:gradients:)`` then ``backwardEncoder(batch:gradients:)``.
    public func backward(batch: Int, gradients target: FlatBuffer? = nil) {
        backwardDecoder(batch: batch, gradients: target)
        backwardEncoder(batch: batch, gradients: target)
    }

    /// The first half of ``backward(batch:gradients:)``: the decoder's layers, last first, and ∂/∂z. When it
    /// returns, ``decoderGradientRange`` of `gradients` is final (an exchange may start summing it).
    public func backwardDecoder(batch: Int, gradients target: FlatBuffer? = nil) {
        let gradientTarget = target ?? gradients
        // The likelihood's gradient w.r.t. the decoder output is already in activationGradient (written by forward).
        var upstream = activationGradient, spare = spareActivationGradient
        for index in stride(from: layout.decoder.count - 1, through: 0, by: -1) {
            // The first layer writes ∂/∂z where the reparameterization's backward reads it.
            let moved = backward(
                layout.decoder[index], input: decoderInputs[index], output: decoderOutputs[index],
                statistics: decoderStatistics[index], upstream: upstream,
                inputGradient: index == 0 ? latentGradient : spare, target: gradientTarget, batch: batch)
            if moved && index > 0 { swap(&upstream, &spare) }
            if !moved && index == 0 { latentGradient.update(from: upstream, count: batch * layout.architecture.latentSize) }
        }
    }

    /// The second half of ``backward(batch:gradients:)``: the latent, both heads and the encoder's layers.
    /// `betweenLayers` runs after the heads and after each encoder layer with parameters (an exchange lets its
    /// communication move along there).
    public func backwardEncoder(batch: Int, gradients target: FlatBuffer? = nil, betweenLayers: () -> Void = {}) {
        let gradientTarget = target ?? gradients
        let latentCount = batch * layout.architecture.latentSize
        // Latent: the KL gradient (written by forward) plus the path through z.
        Reparameterization.backward(
            latentGradient: latentGradient, epsilon: epsilon,
            standardDeviation: standardDeviation, meanGradient: meanGradient,
            logVarianceGradient: logVarianceGradient, count: latentCount)

        // Heads: both read the encoder's output; their input gradients add up. Below the encoder's first layer
        // with parameters no gradient is needed.
        let firstWithParameters = firstEncoderLayerWithParameters
        let needInputGradient = firstWithParameters != nil
        var upstream = activationGradient, spare = spareActivationGradient
        Linear.backward(
            input: features, weight: parameters.pointer(to: layout.mean.weight), outputGradient: meanGradient,
            weightGradient: gradientTarget.pointer(to: layout.mean.weight),
            biasGradient: gradientTarget.pointer(to: layout.mean.bias),
            inputGradient: needInputGradient ? upstream : nil, batch: batch,
            inputSize: layout.mean.inputSize, outputSize: layout.mean.outputSize)
        Linear.backward(
            input: features, weight: parameters.pointer(to: layout.logVariance.weight),
            outputGradient: logVarianceGradient,
            weightGradient: gradientTarget.pointer(to: layout.logVariance.weight),
            biasGradient: gradientTarget.pointer(to: layout.logVariance.bias),
            inputGradient: needInputGradient ? spare : nil, batch: batch,
            inputSize: layout.logVariance.inputSize, outputSize: layout.logVariance.outputSize)
        betweenLayers()
        guard let firstWithParameters else { return }
        let width = layout.mean.inputSize
        for i in 0..<(batch * width) { upstream[i] += spare[i] }

        // Encoder, last layer first, down to its first layer with parameters.
        for index in stride(from: layout.encoder.count - 1, through: firstWithParameters, by: -1) {
            let plan = layout.encoder[index]
            let moved = backward(
                plan, input: encoderInputs[index], output: encoderOutputs[index], statistics: encoderStatistics[index],
                upstream: upstream, inputGradient: index == firstWithParameters ? nil : spare, target: gradientTarget,
                batch: batch)
            if plan.layer.hasParameters { betweenLayers() }
            if moved { swap(&upstream, &spare) }
        }
    }
}
