import VAEModel

/// `allreduce-overlapped`: the all-reduce in two parts, the decoder's started (non-blocking) as soon as its
/// gradients are final, while the encoder's backward runs; then the encoder's part, a wait, and Adam. The same sum
/// as ``AllReduceExchange`` in two pieces.
public final class OverlappedAllReduceExchange: GradientExchange {
    public let communicator: Communicator
    public let model: VariationalAutoencoder
    public let optimizer: Adam
    let losses = LossReduction()
    public let clipper: GradientClipper
    /// The gradient ranges of the two all-reduces.
    let decoder: UnsafeMutableBufferPointer<Float>, encoder: UnsafeMutableBufferPointer<Float>

    public init(communicator: Communicator, settings: ExchangeSettings) {
        self.communicator = communicator
        clipper = GradientClipper(maxNorm: settings.clipNorm)
        (model, optimizer) = makeReplica(settings, batchCapacity: communicator.share(of: settings.globalBatchSize).count)
        let split = model.decoderGradientRange
        decoder = UnsafeMutableBufferPointer(rebasing: model.gradients.buffer[split])
        encoder = UnsafeMutableBufferPointer(rebasing: model.gradients.buffer[0..<split.lowerBound])
    }

    public var description: String { "all-reduce (overlapped)" }

    public func step(indices: UnsafeBufferPointer<Int32>, epoch: Int, source: BatchSource, profile: StepProfile?) -> LossTerms {
        var timer = StepTimer(profile)
        let rows = slice(of: indices.count)
        let decoder = self.decoder, communicator = self.communicator
        let terms = model.localGradients(
            indices: indices, rows: rows, epoch: epoch, source: source, timer: &timer,
            afterDecoder: { communicator.startAllReduceSum(decoder, slot: 0) })
        communicator.allReduce(encoder, .sum)
        communicator.wait(slot: 0)
        clipper.clip(model.gradients.pointer, count: model.gradients.count)
        timer.optimizer { optimizer.update(parameters: model.parameters, gradients: model.gradients) }
        let global = losses.sum(terms, over: communicator)
        timer.record(into: profile, samples: rows.count)
        return global
    }
}
