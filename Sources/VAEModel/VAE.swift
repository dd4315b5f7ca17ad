#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Summed loss terms over a batch (or a whole dataset), in nats.
public struct LossTerms: Equatable, Sendable {
    /// Σ −log p(x|z) over samples.
    public var reconstruction: Double = 0
    /// Σ KL(q(z|x) ‖ N(0, I)) over samples (not multiplied by β).
    public var kl: Double = 0
    /// Number of samples summed.
    public var samples: Int = 0

    public init(reconstruction: Double = 0, kl: Double = 0, samples: Int = 0) {
        self.reconstruction = reconstruction
        self.kl = kl
        self.samples = samples
    }

    /// −ELBO summed: reconstruction + β·KL.
    public func loss(klWeight: Double) -> Double { reconstruction + klWeight * kl }

    /// Means per sample: −ELBO (with β), reconstruction and KL, as the logs and metrics report them.
    public func perSample(klWeight: Double) -> (loss: Double, reconstruction: Double, kl: Double) {
        let n = Double(samples)
        return (loss(klWeight: klWeight) / n, reconstruction / n, kl / n)
    }

    public static func += (lhs: inout LossTerms, rhs: LossTerms) {
        lhs.reconstruction += rhs.reconstruction
        lhs.kl += rhs.kl
        lhs.samples += rhs.samples
    }
}

/// A VAE over a flat parameter buffer, with every activation buffer preallocated for `batchCapacity` rows.
///
/// Usage per step: write the batch into ``input`` and ε into ``epsilon``, call ``forward(batch:training:gradients:)``
/// with `training: true`, then ``backward(batch:gradients:)``. Nothing is allocated after `init`.
/// The loss is a *sum* over the batch, as in the PyTorch example.
///
/// Gradient rule: every op's backward **overwrites** the gradients it owns (weights, biases, inputs), never
/// accumulates; where two paths meet (the two heads' input gradients, the KL and reparameterization paths into μ
/// and log σ²) the sum is written by the op that sees both. A training pass therefore writes every element of the
/// gradient buffer exactly once, and no buffer needs zeroing first.
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

    // Forward state kept for backward.
    let encoderOutputs: [UnsafeMutablePointer<Float>]
    public let mean: UnsafeMutablePointer<Float>
    public let logVariance: UnsafeMutablePointer<Float>
    let standardDeviation: UnsafeMutablePointer<Float>
    /// z, `[batchCapacity, latentSize]`; ``decode(batch:)`` reads it.
    public let latent: UnsafeMutablePointer<Float>
    let decoderOutputs: [UnsafeMutablePointer<Float>]
    /// The decoder's last layer: Bernoulli logits or Gaussian means, `[batchCapacity, inputSize]`.
    public var output: UnsafeMutablePointer<Float> { decoderOutputs[decoderOutputs.count - 1] }

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
        func buffer(_ width: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: batchCapacity * width)
            p.initialize(repeating: 0, count: batchCapacity * width)
            allocations.append(p)
            return p
        }
        let architecture = layout.architecture
        let widest =
            ([architecture.inputSize, architecture.latentSize] + architecture.encoderHidden
            + architecture.decoderHidden).max()!
        input = buffer(architecture.inputSize)
        epsilon = buffer(architecture.latentSize)
        encoderOutputs = layout.encoder.map { buffer($0.outputSize) }
        mean = buffer(architecture.latentSize)
        logVariance = buffer(architecture.latentSize)
        standardDeviation = buffer(architecture.latentSize)
        latent = buffer(architecture.latentSize)
        decoderOutputs = layout.decoder.map { buffer($0.outputSize) }
        activationGradient = buffer(widest)
        spareActivationGradient = buffer(widest)
        meanGradient = buffer(architecture.latentSize)
        logVarianceGradient = buffer(architecture.latentSize)
        latentGradient = buffer(architecture.latentSize)
        fixedLogVariance = .allocate(capacity: architecture.inputSize)
        fixedLogVariance.initialize(repeating: architecture.likelihood.fixedOutputLogVariance, count: architecture.inputSize)
        allocations.append(fixedLogVariance)
        self.allocations = allocations
    }

    deinit { for p in allocations { p.deallocate() } }

    private func weights(_ layer: LinearLayout) -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
        (parameters.pointer(to: layer.weight), parameters.pointer(to: layer.bias))
    }

    /// The per-pixel log-variance of a Gaussian likelihood (learned or fixed).
    var outputLogVariance: UnsafeMutablePointer<Float> {
        if let view = layout.outputLogVariance { return parameters.pointer(to: view) }
        return fixedLogVariance
    }

    /// Encoder to (μ, log σ²) for the first `batch` rows of ``input``.
    public func encode(batch: Int) {
        let activation = layout.architecture.activation
        var x = UnsafePointer(input)
        for index in 0..<layout.encoder.count {  // index loops: no iterator boxes, even in debug builds
            let layer = layout.encoder[index], y = encoderOutputs[index]
            let (w, b) = weights(layer)
            Linear.forward(
                input: x, weight: w, bias: b, output: y, batch: batch,
                inputSize: layer.inputSize, outputSize: layer.outputSize)
            activation.forward(y, count: batch * layer.outputSize)
            x = UnsafePointer(y)
        }
        let (meanWeight, meanBias) = weights(layout.mean)
        Linear.forward(
            input: x, weight: meanWeight, bias: meanBias, output: mean, batch: batch,
            inputSize: layout.mean.inputSize, outputSize: layout.mean.outputSize)
        let (logVarianceWeight, logVarianceBias) = weights(layout.logVariance)
        Linear.forward(
            input: x, weight: logVarianceWeight, bias: logVarianceBias, output: logVariance, batch: batch,
            inputSize: layout.logVariance.inputSize, outputSize: layout.logVariance.outputSize)
    }

    /// Decoder from ``latent`` to ``output`` (logits or means) for the first `batch` rows.
    public func decode(batch: Int) {
        let activation = layout.architecture.activation
        var x = UnsafePointer(latent)
        for index in 0..<layout.decoder.count {
            let layer = layout.decoder[index], y = decoderOutputs[index]
            let (w, b) = weights(layer)
            Linear.forward(
                input: x, weight: w, bias: b, output: y, batch: batch,
                inputSize: layer.inputSize, outputSize: layer.outputSize)
            if index < layout.decoder.count - 1 { activation.forward(y, count: batch * layer.outputSize) }
            x = UnsafePointer(y)
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
        let activation = layout.architecture.activation
        // The likelihood's gradient w.r.t. the decoder output is already in activationGradient (written by forward).
        var upstream = activationGradient, spare = spareActivationGradient

        // Decoder, last layer first.
        for index in stride(from: layout.decoder.count - 1, through: 0, by: -1) {
            let layer = layout.decoder[index]
            let layerInput = index == 0 ? UnsafePointer(latent) : UnsafePointer(decoderOutputs[index - 1])
            let inputGradient = index == 0 ? latentGradient : spare
            Linear.backward(
                input: layerInput, weight: parameters.pointer(to: layer.weight), outputGradient: upstream,
                weightGradient: gradientTarget.pointer(to: layer.weight),
                biasGradient: gradientTarget.pointer(to: layer.bias),
                inputGradient: inputGradient, batch: batch,
                inputSize: layer.inputSize, outputSize: layer.outputSize)
            if index > 0 {
                activation.backward(output: decoderOutputs[index - 1], gradient: spare, count: batch * layer.inputSize)
                swap(&upstream, &spare)
            }
        }
    }

    /// The second half of ``backward(batch:gradients:)``: the latent, both heads and the encoder's layers.
    /// `betweenLayers` runs after the heads and after each encoder layer (an exchange lets its communication
    /// move along there).
    public func backwardEncoder(batch: Int, gradients target: FlatBuffer? = nil, betweenLayers: () -> Void = {}) {
        let gradientTarget = target ?? gradients
        let activation = layout.architecture.activation
        let latentCount = batch * layout.architecture.latentSize
        // Latent: the KL gradient (written by forward) plus the path through z.
        Reparameterization.backward(
            latentGradient: latentGradient, epsilon: epsilon,
            standardDeviation: standardDeviation, meanGradient: meanGradient,
            logVarianceGradient: logVarianceGradient, count: latentCount)

        // Heads: both read the last encoder output; their input gradients add up.
        let headInput = layout.encoder.isEmpty ? UnsafePointer(input) : UnsafePointer(encoderOutputs[layout.encoder.count - 1])
        let needInputGradient = !layout.encoder.isEmpty
        var upstream = activationGradient, spare = spareActivationGradient
        Linear.backward(
            input: headInput, weight: parameters.pointer(to: layout.mean.weight), outputGradient: meanGradient,
            weightGradient: gradientTarget.pointer(to: layout.mean.weight),
            biasGradient: gradientTarget.pointer(to: layout.mean.bias),
            inputGradient: needInputGradient ? upstream : nil, batch: batch,
            inputSize: layout.mean.inputSize, outputSize: layout.mean.outputSize)
        Linear.backward(
            input: headInput, weight: parameters.pointer(to: layout.logVariance.weight),
            outputGradient: logVarianceGradient,
            weightGradient: gradientTarget.pointer(to: layout.logVariance.weight),
            biasGradient: gradientTarget.pointer(to: layout.logVariance.bias),
            inputGradient: needInputGradient ? spare : nil, batch: batch,
            inputSize: layout.logVariance.inputSize, outputSize: layout.logVariance.outputSize)
        betweenLayers()
        guard needInputGradient else { return }
        let width = layout.mean.inputSize
        for i in 0..<(batch * width) { upstream[i] += spare[i] }

        // Encoder, last layer first.
        for index in stride(from: layout.encoder.count - 1, through: 0, by: -1) {
            let layer = layout.encoder[index]
            activation.backward(output: encoderOutputs[index], gradient: upstream, count: batch * layer.outputSize)
            let layerInput = index == 0 ? UnsafePointer(input) : UnsafePointer(encoderOutputs[index - 1])
            Linear.backward(
                input: layerInput, weight: parameters.pointer(to: layer.weight), outputGradient: upstream,
                weightGradient: gradientTarget.pointer(to: layer.weight),
                biasGradient: gradientTarget.pointer(to: layer.bias),
                inputGradient: index == 0 ? nil : spare, batch: batch,
                inputSize: layer.inputSize, outputSize: layer.outputSize)
            betweenLayers()
            swap(&upstream, &spare)
        }
    }
}
