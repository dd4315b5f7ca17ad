import VAEModel

/// `allreduce`: one in-place MPI all-reduce of the flat gradient buffer per step; every rank keeps its own
/// parameters and Adam moments and takes the same update. With one process the sum is the identity.
public final class AllReduceExchange: GradientExchange {
    public let communicator: Communicator
    public let model: VariationalAutoencoder
    public let optimizer: Adam
    let losses = LossReduction()
    public let clipper: GradientClipper

    public init(communicator: Communicator, settings: ExchangeSettings) {
        self.communicator = communicator
        (model, optimizer) = makeReplica(settings, batchCapacity: communicator.share(of: settings.globalBatchSize).count)
        clipper = GradientClipper(maxNorm: settings.clipNorm)
    }

    public var description: String { communicator.size == 1 ? "none (single process)" : "all-reduce" }

    public func step(indices: UnsafeBufferPointer<Int32>, epoch: Int, source: BatchSource, profile: StepProfile?) -> LossTerms {
        var timer = StepTimer(profile)
        let rows = slice(of: indices.count)
        let terms = model.localGradients(indices: indices, rows: rows, epoch: epoch, source: source, timer: &timer)
        communicator.allReduce(model.gradients.buffer, .sum)
        clipper.clip(model.gradients.pointer, count: model.gradients.count)
        timer.optimizer { optimizer.update(parameters: model.parameters, gradients: model.gradients) }
        let global = losses.sum(terms, over: communicator)
        timer.record(into: profile, samples: rows.count)
        return global
    }
}
