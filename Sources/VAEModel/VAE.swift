#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A VAE over a flat parameter buffer, with every activation buffer preallocated for `batchCapacity` samples.
///
/// Usage per step: write the batch into ``input`` and ε into ``epsilon`` (the objective's K rows per sample), call
/// ``forward(batch:training:gradients:)`` with `training: true`, then ``backward(batch:gradients:)``. Nothing is
/// allocated after `init`. The loss is a *sum* over the batch, as in the PyTorch example.
///
/// One walker runs the encoder's and the decoder's layer lists forward and backward (``LayerPlan``s, each layer's
/// op pair in its own file). An activation after a layer with parameters works in place on that layer's output,
/// flatten and unflatten are views of their input: the MLP keeps the memory and the bits it always had. The encoder
/// runs on the batch's rows and then the prior's rows (the VampPrior's pseudo-inputs), the decoder on K rows per sample;
/// the objective (``Objective``) turns them into the bound and the gradients backward starts from.
///
/// Gradient rule: a training pass **overwrites** every gradient it owns (every layer is called with
/// `accumulate: false`); where two paths meet (the two heads' input gradients, the KL and reparameterization paths
/// into μ and log σ²) the sum is written by the op that sees both. A training pass therefore writes every element of
/// the gradient buffer, and no buffer needs zeroing first.
public final class VariationalAutoencoder {
    public let layout: ParameterLayout
    public let batchCapacity: Int
    /// The objective: the ELBO or the IWAE bound (``Objective``).
    public let objective: Objective
    /// K, the objective's ε rows per sample.
    public let samplesPerInput: Int
    /// The prior's rows in every encoder pass (after the batch's).
    public let priorRows: Int
    /// β, the KL weight of the gradients (a KL schedule moves it step by step).
    public var klWeight: Float
    /// β of the reported bound (``LossTerms/loss``): the configured weight, so logged and evaluated losses stay
    /// comparable across KL schedules. Starts as `klWeight`.
    public var reportedKLWeight: Float
    public let parameters: FlatBuffer
    public let gradients: FlatBuffer
    /// The batch, `[batchCapacity, inputSize]` (then the prior's rows), written by the caller.
    public let input: UnsafeMutablePointer<Float>
    /// ε ~ N(0, I), `[batchCapacity × K, latentSize]`, written by the caller.
    public let epsilon: UnsafeMutablePointer<Float>
    /// The likelihood's targets, one per decoder row: ``input`` when K = 1, else each sample's row K times.
    public let targets: UnsafeMutablePointer<Float>

    // Forward state kept for backward: each layer's input and output (views where a layer works in place).
    let encoderInputs: [UnsafeMutablePointer<Float>], encoderOutputs: [UnsafeMutablePointer<Float>]
    /// The heads' outputs, `[batchCapacity + priorRows, latentSize]`.
    public let mean: UnsafeMutablePointer<Float>
    public let logVariance: UnsafeMutablePointer<Float>
    public let standardDeviation: UnsafeMutablePointer<Float>
    /// z, `[batchCapacity × K, latentSize]`; ``decode(batch:)`` reads it.
    public let latent: UnsafeMutablePointer<Float>
    let decoderInputs: [UnsafeMutablePointer<Float>], decoderOutputs: [UnsafeMutablePointer<Float>]
    /// The encoder's output, the heads' input.
    let features: UnsafeMutablePointer<Float>
    /// The decoder's last layer: Bernoulli logits or Gaussian means, `[batchCapacity × K, inputSize]`.
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
    public let activationGradient: UnsafeMutablePointer<Float>
    public let spareActivationGradient: UnsafeMutablePointer<Float>
    /// ∂loss/∂μ and ∂loss/∂log σ², `[batchCapacity + priorRows, latentSize]`.
    public let meanGradient: UnsafeMutablePointer<Float>
    public let logVarianceGradient: UnsafeMutablePointer<Float>
    let latentGradient: UnsafeMutablePointer<Float>
    let fixedLogVariance: UnsafeMutablePointer<Float>

    // The objective's per-row terms, one per decoder row (`[batchCapacity × K]`).
    /// −log p(x|z) of each row (the likelihood writes them).
    public let rowLosses: UnsafeMutablePointer<Double>
    /// log q(z|x) − log p(z) of each row (``latentLogRatios(batch:samples:weights:)``).
    public let rowLogRatios: UnsafeMutablePointer<Double>
    /// log p(z) of each row.
    public let rowLogPriors: UnsafeMutablePointer<Double>
    /// Each row's weight in the likelihood's gradient (the IWAE's normalized weights).
    public let rowWeights: UnsafeMutablePointer<Float>
    /// Each row's weight in the latent terms' gradient (β, times the IWAE's normalized weight).
    public let priorWeights: UnsafeMutablePointer<Float>
    /// The prior's weighted ∂(−log p)/∂z per row, `[batchCapacity × K, latentSize]`.
    public let priorLatentGradient: UnsafeMutablePointer<Float>
    /// The prior's scratch (``PriorKind/scratchSize(latentSize:)`` doubles).
    public let priorScratch: UnsafeMutablePointer<Double>
    private var allocations: [UnsafeMutablePointer<Float>] = []
    private var doubleAllocations: [UnsafeMutablePointer<Double>] = []

    /// A model for batches of up to `batchCapacity` samples, trained on `objective`. Parameters and gradients are
    /// allocated here unless given (node-shared memory); given buffers must have `layout.count` elements.
    public init(
        layout: ParameterLayout, batchCapacity: Int, klWeight: Float = 1, objective: Objective = .elbo,
        parameters: FlatBuffer? = nil, gradients: FlatBuffer? = nil
    ) {
        precondition(batchCapacity > 0, "batch capacity must be positive")
        precondition(
            (parameters?.count ?? layout.count) == layout.count && (gradients?.count ?? layout.count) == layout.count,
            "parameter or gradient buffer has the wrong size")
        self.layout = layout
        self.batchCapacity = batchCapacity
        self.objective = objective
        self.klWeight = klWeight
        self.reportedKLWeight = klWeight
        self.parameters = parameters ?? FlatBuffer(count: layout.count)
        self.gradients = gradients ?? FlatBuffer(count: layout.count)
        let architecture = layout.architecture
        let samples = objective.samplesPerInput, prior = architecture.prior.kind
        samplesPerInput = samples
        priorRows = prior.encoderRows
        // Rows of the encoder's buffers (the batch's, then the prior's) and of the decoder's (K per sample).
        let encoderRows = batchCapacity + priorRows, decoderRows = batchCapacity * samples
        var allocations: [UnsafeMutablePointer<Float>] = []
        func buffer(_ width: Int, rows: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(rows * width, 1))
            p.initialize(repeating: 0, count: max(rows * width, 1))
            allocations.append(p)
            return p
        }
        var doubleAllocations: [UnsafeMutablePointer<Double>] = []
        func doubles(_ count: Int) -> UnsafeMutablePointer<Double> {
            let p = UnsafeMutablePointer<Double>.allocate(capacity: max(count, 1))
            p.initialize(repeating: 0, count: max(count, 1))
            doubleAllocations.append(p)
            return p
        }
        let plans = layout.encoder + layout.decoder
        var widest = max(architecture.inputSize, architecture.latentSize)
        for plan in plans { widest = max(widest, plan.outputSize) }
        input = buffer(architecture.inputSize, rows: encoderRows)
        epsilon = buffer(architecture.latentSize, rows: decoderRows)
        targets = samples == 1 ? input : buffer(architecture.inputSize, rows: decoderRows)
        /// Each layer's input and output buffer: a view of its input for flatten and unflatten and for an activation
        /// right after a layer with parameters, else its own.
        func walk(
            _ plans: [LayerPlan], from first: UnsafeMutablePointer<Float>, rows: Int
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
                    current = buffer(plan.outputSize, rows: rows)
                    producedByParameters = plan.layer.hasParameters
                }
                outputs.append(current)
            }
            return (inputs, outputs)
        }
        (encoderInputs, encoderOutputs) = walk(layout.encoder, from: input, rows: encoderRows)
        features = encoderOutputs.last ?? input
        mean = buffer(architecture.latentSize, rows: encoderRows)
        logVariance = buffer(architecture.latentSize, rows: encoderRows)
        standardDeviation = buffer(architecture.latentSize, rows: encoderRows)
        latent = buffer(architecture.latentSize, rows: decoderRows)
        (decoderInputs, decoderOutputs) = walk(layout.decoder, from: latent, rows: decoderRows)
        output = decoderOutputs.last ?? latent
        let unused = buffer(1, rows: 1)
        func statistics(_ plan: LayerPlan, rows: Int) -> UnsafeMutablePointer<Float> {
            guard case .groupNorm(_, _, _, let groups) = plan.operation else { return unused }
            return buffer(2 * groups, rows: rows)
        }
        encoderStatistics = layout.encoder.map { statistics($0, rows: encoderRows) }
        firstEncoderLayerWithParameters = layout.encoder.firstIndex { $0.layer.hasParameters }
        decoderStatistics = layout.decoder.map { statistics($0, rows: decoderRows) }
        columns = buffer(plans.compactMap { $0.geometry.map { $0.patchSize * $0.positions } }.max() ?? 1, rows: 1)
        activationGradient = buffer(widest, rows: max(encoderRows, decoderRows))
        spareActivationGradient = buffer(widest, rows: max(encoderRows, decoderRows))
        meanGradient = buffer(architecture.latentSize, rows: encoderRows)
        logVarianceGradient = buffer(architecture.latentSize, rows: encoderRows)
        latentGradient = buffer(architecture.latentSize, rows: decoderRows)
        fixedLogVariance = buffer(architecture.inputSize, rows: 1)
        fixedLogVariance.update(repeating: architecture.likelihood.fixedPixelParameter, count: architecture.inputSize)
        rowLosses = doubles(decoderRows)
        rowLogRatios = doubles(decoderRows)
        rowLogPriors = doubles(decoderRows)
        rowWeights = buffer(1, rows: decoderRows)
        priorWeights = buffer(1, rows: decoderRows)
        priorLatentGradient = buffer(architecture.latentSize, rows: decoderRows)
        priorScratch = doubles(prior.scratchSize(latentSize: architecture.latentSize))
        self.allocations = allocations
        self.doubleAllocations = doubleAllocations
    }

    deinit {
        for p in allocations { p.deallocate() }
        for p in doubleAllocations { p.deallocate() }
    }

    private func weights(_ layer: LinearLayout) -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
        (parameters.pointer(to: layer.weight), parameters.pointer(to: layer.bias))
    }

    /// The per-pixel log-variance of a Gaussian likelihood (learned or fixed).
    var pixelParameter: UnsafeMutablePointer<Float> {
        if let view = layout.pixelParameter { return parameters.pointer(to: view) }
        return fixedLogVariance
    }

    /// Encoder to (μ, log σ²) for the first `batch` rows of ``input``, then for the prior's rows after them (written
    /// here: the VampPrior's pseudo-inputs). `batch` may be 0 (the prior's rows alone).
    public func encode(batch: Int) {
        let rows = batch + priorRows
        if priorRows > 0 {
            layout.architecture.prior.kind.fillEncoderRows(self, at: input + batch * layout.architecture.inputSize)
        }
        guard rows > 0 else { return }
        for index in 0..<layout.encoder.count {  // index loops: no iterator boxes, even in debug builds
            forward(
                layout.encoder[index], input: encoderInputs[index], output: encoderOutputs[index],
                statistics: encoderStatistics[index], batch: rows)
        }
        let (meanWeight, meanBias) = weights(layout.mean)
        Linear.forward(
            input: features, weight: meanWeight, bias: meanBias, output: mean, batch: rows,
            inputSize: layout.mean.inputSize, outputSize: layout.mean.outputSize)
        let (logVarianceWeight, logVarianceBias) = weights(layout.logVariance)
        Linear.forward(
            input: features, weight: logVarianceWeight, bias: logVarianceBias, output: logVariance, batch: rows,
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

    /// Full forward pass for the first `batch` samples: encode, then the objective (z = μ + σ ⊙ ε for its K ε per
    /// sample, decode, its bound and parts against ``input`` as the target). With `training`, the loss ops also write
    /// their gradients (fused into the same pass) for ``backward(batch:gradients:)``; a learned output variance's
    /// gradient goes into `gradients` (default ``gradients``), which must then be the buffer backward writes too.
    @discardableResult
    public func forward(batch: Int, training: Bool = false, gradients target: FlatBuffer? = nil) -> LossTerms {
        precondition(batch > 0 && batch <= batchCapacity, "batch \(batch) outside 1...\(batchCapacity)")
        encode(batch: batch)
        return objective.kind.forward(self, batch: batch, training: training, gradients: target ?? gradients)
    }
}
