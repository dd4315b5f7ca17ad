import VAEModel

/// `sharded-adam` (ZeRO-1): a reduce-scatter gives each rank the summed gradient of its 1/N of the flat buffer,
/// it takes the Adam step on that shard of the parameters and moments only, and an all-gather brings every rank
/// the whole new parameters. The same math as the all-reduce (last-bit differences from the summation order);
/// each rank's moments are current only in its shard until ``gatherOptimizerState()``.
public final class ShardedAdamExchange: GradientExchange {
    public let communicator: Communicator
    public let model: VariationalAutoencoder
    public let optimizer: Adam
    let losses = LossReduction()
    public let clipper: GradientClipper
    /// One contiguous shard of the flat buffers per rank.
    public let shards: ShardLayout
    /// This rank's summed gradient shard.
    let shardGradients: FlatBuffer

    public init(communicator: Communicator, settings: ExchangeSettings) {
        self.communicator = communicator
        (model, optimizer) = makeReplica(settings, batchCapacity: communicator.share(of: settings.globalBatchSize).count)
        shards = ShardLayout(count: settings.layout.count, ranks: communicator.size)
        shardGradients = FlatBuffer(count: shards.range(of: communicator.rank).count)
        clipper = GradientClipper(maxNorm: settings.clipNorm)
    }

    public var description: String { "reduce-scatter + all-gather (ZeRO-1)" }

    /// None: the summed shard lands in a buffer of its own, and ``VariationalAutoencoder/gradients`` keeps this
    /// rank's local gradient.
    public var summedGradientRange: Range<Int> { 0..<0 }

    public func step(indices: UnsafeBufferPointer<Int32>, epoch: Int, source: BatchSource, profile: StepProfile?) -> LossTerms {
        var timer = StepTimer(profile)
        let rows = slice(of: indices.count)
        let terms = model.localGradients(indices: indices, rows: rows, epoch: epoch, source: source, timer: &timer)
        communicator.reduceScatterSum(UnsafeBufferPointer(model.gradients.buffer), into: shardGradients.buffer, shards: shards)
        clipper.clip(shardGradients.pointer, count: shardGradients.count, shards: communicator)
        timer.optimizer {
            optimizer.update(
                parameters: model.parameters, range: shards.range(of: communicator.rank),
                shardGradients: shardGradients.pointer)
        }
        communicator.allGather(model.parameters.buffer, shards: shards)
        let global = losses.sum(terms, over: communicator)
        timer.record(into: profile, samples: rows.count)
        return global
    }

    public func gatherOptimizerState() {
        communicator.allGather(optimizer.firstMoment.buffer, shards: shards)
        communicator.allGather(optimizer.secondMoment.buffer, shards: shards)
    }
}
