import Foundation
import Logging
import VAEModel

/// Where to resume from.
public enum ResumeSource: Equatable, Sendable {
    /// The checkpoint the run folder's `latest` pointer names.
    case latest
    /// A checkpoint file.
    case path(String)

    /// `latest` or a path.
    public init(_ argument: String) { self = argument == "latest" ? .latest : .path(argument) }
}

/// A trainer error with what to do about it.
public enum TrainerError: Error, CustomStringConvertible {
    case nothingToResume(directory: String)
    case dataTooSmall(samples: Int, batchSize: Int)
    case inputSizeMismatch(data: Int, model: Int)
    case nonFiniteLoss(step: Int, term: String)
    case batchNotDivisible(batchSize: Int, ranks: Int)
    case microBatchesNotDivisible(batchSize: Int, microBatches: Int, ranks: Int)
    case nodeSharedUnavailable(reason: String)

    public var description: String {
        switch self {
        case .nothingToResume(let directory):
            return "--resume latest: \(directory) has no 'latest' checkpoint pointer. Train without --resume first, or pass a checkpoint path."
        case .dataTooSmall(let samples, let batchSize):
            return "the training set has \(samples) samples, fewer than one batch of \(batchSize) with drop_last; lower --batch-size."
        case .inputSizeMismatch(let data, let model):
            return "the data has \(data) pixels per image but model.input_size is \(model); set model.input_size to \(data)."
        case .nonFiniteLoss(let step, let term):
            return "step \(step): the \(term) is not finite; lower --learning-rate or check the data. No checkpoint was written for this step."
        case .microBatchesNotDivisible(let batchSize, let microBatches, let ranks):
            return "reduction exact: \(microBatches) micro-batches must divide the global batch \(batchSize) and be divisible by the \(ranks) ranks; set training.micro_batches (e.g. \(max(ranks, 1) * max(1, microBatches / max(ranks, 1))))."
        case .nodeSharedUnavailable(let reason):
            return "gradient_exchange node-shared: \(reason); use --gradient-exchange allreduce or auto."
        case .batchNotDivisible(let batchSize, let ranks):
            return "the global batch \(batchSize) does not divide among \(ranks) ranks; pick a --batch-size that is a multiple of \(ranks), or --batch-per-rank."
        }
    }
}

/// One finished epoch.
public struct EpochSummary: Equatable, Sendable {
    public var epoch: Int
    public var train: LossTerms
    public var test: LossTerms
    public var seconds: Double
}

/// What a call to ``Trainer/run(resume:)`` did.
public struct TrainingSummary: Sendable {
    public var position: TrainingPosition
    public var epochs: [EpochSummary]
    /// Training samples per second over the whole run (all ranks, excluding test passes and checkpoints).
    public var samplesPerSecond: Double
    /// The last checkpoint written, if any.
    public var lastCheckpoint: String?
}

/// Data-parallel VAE training over a ``Communicator``.
///
/// The configured batch is the *global* batch B of the shared epoch permutation; rank r of N computes rows
/// [B·r/N, B·(r+1)/N) of each, gradients of the summed loss are summed over ranks, so N ranks take the same
/// step as one. The last partial batch of an epoch is kept (split the same way) unless `drop_last`.
/// Rank 0 alone logs, writes metrics and checkpoints.
public final class Trainer {
    public let configuration: TrainingConfiguration
    public let data: DataSplits
    public let communicator: Communicator
    public var logger: Logger
    public let model: VariationalAutoencoder
    public let optimizer: Adam
    public let store: CheckpointStore
    public internal(set) var position = TrainingPosition()
    let filler: BatchFiller
    let reduction: UnsafeMutableBufferPointer<Double>
    let metrics: MetricsLog
    /// Per-phase step timings, recorded only when set (the benchmark).
    public var profile: StepProfile?
    /// Rank 0's TensorBoard event file for this run (opened by ``run(resume:)``).
    var tensorboard: TensorBoardWriter?
    /// ZeRO-1 shards of the flat buffers and this rank's summed gradient shard (sharded optimizer only).
    let shards: ShardLayout?
    let shardGradients: FlatBuffer?
    /// The node-shared gradient exchange, when in use (it then owns the parameters, moments and gradients).
    public let exchange: NodeSharedExchange?
    /// Micro-batch buffers of the rank-count-independent reduction (`reduction: exact` only).
    let exact: ExactReduction?
    /// A fault to inject (tests only; from VAE_DIST_FAULT).
    let fault: FaultInjection?
    /// One double for the per-step stop-signal agreement.
    let control: UnsafeMutableBufferPointer<Double>

    public init(configuration: TrainingConfiguration, data: DataSplits, communicator: Communicator = SingleProcessCommunicator(),
                logger: Logger = Logger(label: "vae-dist")) throws {
        let architecture = configuration.architecture
        guard data.train.pixelsPerImage == architecture.inputSize else {
            throw TrainerError.inputSizeMismatch(data: data.train.pixelsPerImage, model: architecture.inputSize)
        }
        guard configuration.batchSize % communicator.size == 0 else {
            throw TrainerError.batchNotDivisible(batchSize: configuration.batchSize, ranks: communicator.size)
        }
        if configuration.reduction == .exact {
            guard configuration.batchSize % configuration.microBatches == 0,
                  configuration.microBatches % communicator.size == 0 else {
                throw TrainerError.microBatchesNotDivisible(batchSize: configuration.batchSize,
                                                            microBatches: configuration.microBatches, ranks: communicator.size)
            }
        }
        if configuration.dropLast && data.train.count < configuration.batchSize {
            throw TrainerError.dataTooSmall(samples: data.train.count, batchSize: configuration.batchSize)
        }
        self.configuration = configuration
        self.data = data
        self.communicator = communicator
        self.logger = logger
        let layout = ParameterLayout(architecture)
        let perRank = configuration.reduction == .exact
            ? configuration.batchSize / configuration.microBatches : configuration.batchSize / communicator.size
        let exchange = try Trainer.makeNodeSharedExchange(configuration, communicator: communicator, parameterCount: layout.count,
                                                          logger: logger)
        self.exchange = exchange
        model = VariationalAutoencoder(layout: layout, batchCapacity: perRank, klWeight: Float(configuration.klWeight),
                                       parameters: exchange?.parameters, gradients: exchange?.gradients)
        if exchange?.isNodeLeader ?? true { layout.initialize(model.parameters, seed: configuration.seed) }
        exchange?.synchronize()
        optimizer = Adam(parameterCount: layout.count, hyperparameters: configuration.adam,
                         firstMoment: exchange?.firstMoment, secondMoment: exchange?.secondMoment)
        store = CheckpointStore(directory: configuration.runDirectory, keep: configuration.keepCheckpoints)
        filler = BatchFiller(seed: configuration.seed, binarization: configuration.binarization)
        reduction = .allocate(capacity: LossTerms.slotWidth)
        control = .allocate(capacity: 1)
        fault = FaultInjection.fromEnvironment()
        metrics = MetricsLog(path: (configuration.runDirectory as NSString).appendingPathComponent("metrics.jsonl"))
        if configuration.blasThreads > 0 { BLAS.setThreadCount(configuration.blasThreads) }
        exact = configuration.reduction == .exact
            ? ExactReduction(parameterCount: layout.count, batchSize: configuration.batchSize,
                             microBatches: configuration.microBatches, ranks: communicator.size)
            : nil
        if configuration.shardedOptimizer {
            let shards = ShardLayout(count: layout.count, ranks: communicator.size)
            self.shards = shards
            shardGradients = FlatBuffer(count: shards.range(of: communicator.rank).count)
        } else {
            shards = nil
            shardGradients = nil
        }
    }

    /// The node-shared exchange when the configuration asks for it (or `auto` finds it applies), else nil.
    static func makeNodeSharedExchange(_ configuration: TrainingConfiguration, communicator: Communicator,
                                       parameterCount: Int, logger: Logger) throws -> NodeSharedExchange? {
        let conflict = configuration.reduction == .exact ? "reduction exact has its own exchange"
            : configuration.shardedOptimizer ? "the sharded optimizer (ZeRO-1) needs the all-reduce path"
            : configuration.overlapAllReduce ? "the overlapped all-reduce needs the all-reduce path" : nil
        let required = configuration.gradientExchange == .nodeShared
        switch configuration.gradientExchange {
        case .allreduce: return nil
        case .auto: guard communicator.size > 1, conflict == nil else { return nil }
        case .nodeShared: if let conflict { throw TrainerError.nodeSharedUnavailable(reason: conflict) }
        }
        let topology = communicator.nodeTopology()
        guard topology.uniform else {
            if required { throw TrainerError.nodeSharedUnavailable(reason: "the nodes have different numbers of ranks") }
            return nil
        }
        if !required && topology.localSize == 1 { return nil }
        // Room in the shared-memory folder on every node (a full tmpfs would end the job with SIGBUS later).
        let needed = NodeSharedExchange.bytesPerNode(parameterCount: parameterCount, localSize: topology.localSize)
        let short = communicator.gather(Int64((topology.sharedMemoryFreeBytes ?? .max) < needed ? 1 : 0))
        let shortRanks = short.indices.filter { short[$0] != 0 }
        if !shortRanks.isEmpty {
            let megabytes = { (bytes: Int) in String(format: "%.1f MB", Double(bytes) / 1_048_576) }
            let reason = "it needs \(megabytes(needed)) of shared memory per node in \(topology.sharedMemoryDirectory ?? "/dev/shm"), "
                + "and rank\(shortRanks.count == 1 ? "" : "s") \(shortRanks.map(String.init).joined(separator: ", ")) "
                + "\(shortRanks.count == 1 ? "has" : "have") less free"
                + (topology.sharedMemoryFreeBytes.map { " (this rank: \(megabytes($0)))" } ?? "")
                + "; enlarge it (docker run --shm-size=1g)"
            if required { throw TrainerError.nodeSharedUnavailable(reason: reason) }
            if communicator.isLeader { logger.warning("gradient exchange: not node-shared memory: \(reason). Using the all-reduce.") }
            return nil
        }
        return try NodeSharedExchange(communicator: communicator, topology: topology, parameterCount: parameterCount)
    }

    deinit {
        reduction.deallocate()
        control.deallocate()
    }

    /// Optimizer steps in one epoch.
    public var stepsPerEpoch: Int {
        let n = data.train.count, b = configuration.batchSize
        return configuration.dropLast ? n / b : (n + b - 1) / b
    }

    /// This rank's rows of a global batch of `count` rows.
    func slice(of count: Int) -> Range<Int> {
        let r = communicator.rank, n = communicator.size
        return (count * r / n)..<(count * (r + 1) / n)
    }

    /// Restores parameters, Adam state and position from a checkpoint after checking it fits this run.
    /// Rank 0 reads the file and broadcasts its bytes; every rank decodes and checks the same bytes, so all
    /// ranks agree on success or on the error.
    public func restore(from source: ResumeSource) throws -> String {
        let (path, bytes) = try communicator.agree { () throws -> (String, [UInt8]?) in
            guard communicator.isLeader else { return ("", nil) }
            let path: String
            switch source {
            case .path(let p): path = p
            case .latest:
                guard let p = try store.latest() else { throw TrainerError.nothingToResume(directory: store.directory) }
                path = p
            }
            guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError.notFound(path: path) }
            return (path, [UInt8](data))
        }
        let shared = communicator.broadcast(bytes: bytes)
        let name = communicator.isLeader ? path : "the checkpoint rank 0 read"
        let metadata = try communicator.agree {
            let metadata = try decodeState(shared, path: name)
            let differing = TrainingConfiguration.differingKeys(metadata.configurationJSON, configuration.trajectoryJSON)
            guard differing.isEmpty else { throw CheckpointError.configurationMismatch(path: name, keys: differing) }
            guard metadata.dataFingerprint == data.trainFingerprint else {
                throw CheckpointError.dataMismatch(path: name, checkpoint: metadata.dataFingerprint, current: data.trainFingerprint)
            }
            return metadata
        }
        exchange?.synchronize()
        position = metadata.position
        return path
    }

    /// Decodes a checkpoint's parameters and Adam state into this trainer. With node-shared memory only the
    /// node's leader writes the node's copy; the other ranks decode the same bytes into scratch buffers, so every
    /// rank checks them alike. Not collective: after every rank has succeeded, `exchange?.synchronize()` makes the
    /// leader's writes visible.
    func decodeState(_ bytes: [UInt8], path: String) throws -> Checkpoint.Metadata {
        let writer = exchange?.isNodeLeader ?? true
        let parameters = writer ? model.parameters : FlatBuffer(count: model.layout.count)
        let adam = writer ? optimizer : Adam(parameterCount: model.layout.count, hyperparameters: configuration.adam)
        let metadata = try Checkpoint.decode(bytes, path: path, layout: model.layout, parameters: parameters, adam: adam)
        optimizer.step = adam.step
        return metadata
    }

    /// Start-up agreement: every rank must have the same configuration, parameter count and data (a mismatch
    /// stops every rank with a message naming the ranks), then rank 0's parameters are broadcast.
    public func synchronizeStart() throws {
        guard communicator.size > 1 else { return }
        func prefix(_ hex: String) -> Int64 { Int64(bitPattern: UInt64(hex.prefix(16), radix: 16) ?? 0) }
        try communicator.requireSame(prefix(configuration.trajectoryHash), what: "the configuration hash",
                                     hint: "Start every rank with the same --config and flags.")
        try communicator.requireSame(Int64(model.layout.count), what: "the parameter count",
                                     hint: "Start every rank with the same model settings.")
        try communicator.requireSame(prefix(data.trainFingerprint), what: "the training data fingerprint",
                                     hint: "Give every rank the same --data.")
        if let exchange {
            // One copy per node: rank 0's parameters reach the other nodes' leaders through a private buffer.
            guard exchange.topology.nodeCount > 1 else { return }
            let copy = FlatBuffer(count: model.parameters.count)
            if communicator.isLeader { copy.copy(from: model.parameters) }
            communicator.broadcast(UnsafeMutableRawBufferPointer(start: copy.pointer, count: copy.count * 4), root: 0)
            if exchange.isNodeLeader { model.parameters.copy(from: copy) }
            exchange.synchronize()
        } else {
            communicator.broadcast(UnsafeMutableRawBufferPointer(start: model.parameters.pointer, count: model.parameters.count * 4), root: 0)
        }
    }

    /// Writes a checkpoint of the current state (rank 0 only) and logs it once it is committed.
    /// ZeRO-1 keeps each rank's Adam moments current only in its own shard; this collective gathers the full
    /// moments on every rank (checkpoints call it). No-op without the sharded optimizer.
    public func gatherOptimizerState() {
        guard let shards else { return }
        communicator.allGather(optimizer.firstMoment.buffer, shards: shards)
        communicator.allGather(optimizer.secondMoment.buffer, shards: shards)
    }

    /// Collective: every rank calls it, and every rank throws if rank 0's write failed.
    @discardableResult
    public func saveCheckpoint() throws -> String? {
        gatherOptimizerState()
        return try communicator.agree {
            guard communicator.isLeader else { return nil }
            let bytes = Checkpoint.encode(
                layout: model.layout, parameters: model.parameters, adam: optimizer,
                metadata: .init(position: position, adamStep: optimizer.step, configurationJSON: configuration.trajectoryJSON,
                                dataFingerprint: data.trainFingerprint, worldSize: communicator.size))
            let path = try store.save(bytes, step: position.globalStep)
            logger.info("saved checkpoint \(path) (step \(position.globalStep))")
            return path
        }
    }

    /// One optimizer step on the global batch `indices` (this rank computes its slice). No allocation.
    /// Returns the batch's loss sums over all ranks.
    public func step(indices: UnsafeBufferPointer<Int32>, epoch: Int) -> LossTerms {
        if let exact { return exactStep(indices: indices, epoch: epoch, exact: exact) }
        let profiling = profile != nil
        let t0 = profiling ? monotonicNanoseconds() : 0
        let rows = slice(of: indices.count)
        var terms = LossTerms()
        if rows.isEmpty {
            model.gradients.zero()
        } else {
            fillBatch(from: data.train, indices: UnsafeBufferPointer(rebasing: indices[rows]), epoch: epoch, evaluation: false)
        }
        let t1 = profiling ? monotonicNanoseconds() : 0
        if profiling { GEMMClock.nanoseconds = 0 }
        let overlap = configuration.overlapAllReduce && shards == nil  // never with node-shared memory (see makeNodeSharedExchange)
        if !rows.isEmpty {
            terms = model.forward(batch: rows.count, training: true)
            if overlap {
                let decoder = UnsafeMutableBufferPointer(rebasing: model.gradients.buffer[model.decoderGradientRange])
                model.backward(batch: rows.count) { self.communicator.startAllReduceSum(decoder, slot: 0) }
            } else {
                model.backward(batch: rows.count)
            }
        } else if overlap {
            communicator.startAllReduceSum(UnsafeMutableBufferPointer(rebasing: model.gradients.buffer[model.decoderGradientRange]), slot: 0)
        }
        let t2 = profiling ? monotonicNanoseconds() : 0
        let optimizerTime: UInt64, global: LossTerms
        if let exchange {
            let result = exchange.sumAndUpdate(optimizer: optimizer, terms: terms, timing: profiling)
            optimizerTime = result.adamNanoseconds
            global = result.global ?? reduced(terms)
        } else {
            optimizerTime = sumGradientsAndUpdate(timing: profiling)
            global = reduced(terms)
        }
        if let profile {
            let communication = monotonicNanoseconds() - t2 - optimizerTime
            profile.record(data: t1 - t0, gemm: GEMMClock.nanoseconds, elementwise: t2 - t1 - min(GEMMClock.nanoseconds, t2 - t1),
                           allReduce: communication, optimizer: optimizerTime, samples: rows.count)
        }
        return global
    }

    /// How this trainer sums its gradients, in words (logs and `bench`).
    public var exchangeDescription: String {
        if let topology = exchange?.topology {
            return "node-shared, \(topology.localSize) rank(s) per node, \(topology.nodeCount) node(s)"
        }
        if communicator.size == 1 { return "none (single process)" }
        if configuration.reduction == .exact { return "all-reduce (int64, exact)" }
        if configuration.shardedOptimizer { return "reduce-scatter + all-gather (ZeRO-1)" }
        return configuration.overlapAllReduce ? "all-reduce (overlapped)" : "all-reduce"
    }

    /// Sums loss terms over ranks.
    func reduced(_ terms: LossTerms) -> LossTerms {
        terms.write(to: reduction.baseAddress!)
        communicator.allReduceSum(reduction)
        return LossTerms(slot: reduction.baseAddress!)
    }

    /// Sums the gradients over ranks and takes the Adam step without node-shared memory: one all-reduce (its encoder
    /// part last when the decoder's was started during backward), or ZeRO-1's reduce-scatter, shard update and
    /// all-gather. Returns the
    /// nanoseconds Adam took when `timing`, else 0.
    func sumGradientsAndUpdate(timing: Bool) -> UInt64 {
        let start: UInt64, end: UInt64
        if let shards, let shardGradients {
            communicator.reduceScatterSum(UnsafeBufferPointer(model.gradients.buffer), into: shardGradients.buffer, shards: shards)
            start = timing ? monotonicNanoseconds() : 0
            optimizer.update(parameters: model.parameters, range: shards.range(of: communicator.rank),
                             shardGradients: shardGradients.pointer)
            end = timing ? monotonicNanoseconds() : 0
            communicator.allGather(model.parameters.buffer, shards: shards)
        } else {
            if configuration.overlapAllReduce {
                communicator.allReduceSum(UnsafeMutableBufferPointer(rebasing: model.gradients.buffer[0..<model.decoderGradientRange.lowerBound]))
                communicator.wait(slot: 0)
            } else {
                communicator.allReduceSum(model.gradients.buffer)
            }
            start = timing ? monotonicNanoseconds() : 0
            optimizer.update(parameters: model.parameters, gradients: model.gradients)
            end = timing ? monotonicNanoseconds() : 0
        }
        return end - start
    }

    /// Writes samples `indices` of `dataset` and their ε into the model's input and ε rows (see ``BatchFiller``).
    func fillBatch(from dataset: ImageDataset, indices: UnsafeBufferPointer<Int32>, epoch: Int, evaluation: Bool) {
        filler.fill(input: model.input, epsilon: model.epsilon, latentSize: model.layout.architecture.latentSize,
                    dataset: dataset, indices: indices, epoch: epoch, evaluation: evaluation)
    }

    /// Loss sums of `dataset` under the current parameters, with fixed ε and binarization keys (so the
    /// number is a pure function of the parameters), split across ranks and reduced.
    public func evaluate(_ dataset: ImageDataset) -> LossTerms {
        if let exact { return exactEvaluate(dataset, chunk: exact.microBatchSize) }
        var terms = LossTerms()
        let rows = slice(of: dataset.count)
        let capacity = model.batchCapacity
        var indices = [Int32](repeating: 0, count: capacity)
        var start = rows.lowerBound
        while start < rows.upperBound {
            let count = min(capacity, rows.upperBound - start)
            for i in 0..<count { indices[i] = Int32(start + i) }
            indices.withUnsafeBufferPointer {
                fillBatch(from: dataset, indices: UnsafeBufferPointer(rebasing: $0[0..<count]), epoch: 0, evaluation: true)
            }
            terms += model.forward(batch: count)
            start += count
        }
        return reduced(terms)
    }

    /// Whether any rank received SIGTERM/SIGINT (agreed by a MAX all-reduce, so all ranks stop after the same step).
    /// The signal number is left in `control[0]`.
    func stopRequested() -> Bool {
        control[0] = Double(StopSignal.signal)
        if communicator.size > 1 { communicator.allReduce(control, .max) }
        return control[0] != 0
    }

    /// Compares a hash of the parameters across ranks; stops every rank, naming the ones that differ from rank 0.
    public func checkReplicasAgree() throws {
        guard communicator.size > 1 else { return }
        let hashes = communicator.gather(Int64(bitPattern: model.parameters.fingerprint))
        let differing = hashes.indices.filter { hashes[$0] != hashes[0] }
        guard differing.isEmpty else {
            throw CollectiveFailure(failedRanks: differing, local: nil, summary:
                "replicas diverged at step \(position.globalStep): the parameters of rank\(differing.count == 1 ? "" : "s") "
                + "\(differing.map(String.init).joined(separator: ", ")) differ from rank 0's. Resume from the last checkpoint; "
                + "if it recurs, check the machines (memory errors) and that every rank runs the same build.")
        }
    }

    /// Tests only (VAE_DIST_FAULT): a stall or a NaN on one rank before a given step (a perturbation comes after
    /// one: ``injectFaultAfterStep(_:)``).
    func injectFaultBeforeStep(_ step: Int) {
        guard let fault, fault.rank == communicator.rank, fault.step == step else { return }
        switch fault.kind {
        case .stall: usleep(UInt32(min(fault.seconds, 4000) * 1_000_000))
        case .nan: model.parameters.pointer[0] = .nan
        case .perturb: break
        }
    }

    /// Tests only (VAE_DIST_FAULT): one rank's parameters perturbed after a given step, so the replica check has a
    /// divergence to name. Every rank of a node takes the node barrier: with node-shared memory the whole node's
    /// copy changes, and its ranks all see the change.
    func injectFaultAfterStep(_ step: Int) {
        guard let fault, fault.kind == .perturb, fault.step == step else { return }
        if fault.rank == communicator.rank { model.parameters.pointer[0] += 1e-3 }
        exchange?.synchronize()
    }

    /// Trains from the current position (or from `resume`) to the configured epochs or max steps.
    public func run(resume: ResumeSource? = nil) throws -> TrainingSummary {
        let leader = communicator.isLeader
        try synchronizeStart()
        if communicator.size > 1 { communicator.startWatchdog(limitSeconds: configuration.collectiveTimeout) }
        try communicator.agree {
            guard leader else { return }
            let removed = try store.prepare()
            if !removed.isEmpty { logger.info("removed leftover temp files from an interrupted save: \(removed.joined(separator: ", "))") }
        }
        if let resume {
            let path = try restore(from: resume)
            if leader {
                logger.info("resumed from \(path) at epoch \(position.epoch + 1), step \(position.stepInEpoch) of \(stepsPerEpoch) (global step \(position.globalStep))")
            }
        }
        try communicator.agree {
            guard leader else { return }
            try metrics.open(keepingThrough: position.globalStep)
            tensorboard = try TensorBoardWriter(directory: store.directory)
        }
        defer { tensorboard = nil }
        defer { metrics.close() }

        let config = configuration
        let klWeight = config.klWeight
        let total = stepsPerEpoch
        let lastStep = min(config.epochs * total, config.maxSteps ?? .max)
        if leader, let warning = BLAS.kernelWarning { logger.warning("\(warning)") }
        if leader {
            logger.info("training \(config.architecture.describe) on \(data.source): \(data.train.count) train / \(data.test.count) test samples, global batch \(config.batchSize), \(communicator.size) rank(s)\(communicator.size > 1 ? " (gradient exchange: \(exchangeDescription))" : ""), BLAS threads \(BLAS.threadCount) (\(BLAS.coreName) kernels), \(model.layout.count) parameters")
        }
        var summaries: [EpochSummary] = []
        var lastCheckpoint: String?
        var savedStep: Int?  // the same on every rank, so every rank makes the same (collective) save calls
        func save() throws {
            lastCheckpoint = try saveCheckpoint() ?? lastCheckpoint
            savedStep = position.globalStep
        }
        var trainSeconds = 0.0, trainSamples = 0
        let clock = ContinuousClock()

        epochLoop: while position.epoch < config.epochs && position.globalStep < lastStep {
            let epoch = position.epoch
            let order = epochPermutation(count: data.train.count, seed: config.seed, epoch: epoch)
            let epochStart = clock.now
            var windowStart = clock.now, windowSamples = 0
            while position.stepInEpoch < total {
                if position.globalStep >= lastStep { break }
                let s = position.stepInEpoch
                let lower = s * config.batchSize, upper = min(lower + config.batchSize, data.train.count)
                communicator.watch(step: position.globalStep + 1)
                injectFaultBeforeStep(position.globalStep + 1)
                let stepStart = clock.now
                let terms = order.withUnsafeBufferPointer { step(indices: UnsafeBufferPointer(rebasing: $0[lower..<upper]), epoch: epoch) }
                let elapsed = clock.now - stepStart
                trainSeconds += elapsed.seconds
                trainSamples += terms.samples
                windowSamples += terms.samples
                // The terms are global sums, so every rank sees the same value and stops at the same step.
                if !terms.reconstruction.isFinite || !terms.kl.isFinite {
                    let term = terms.reconstruction.isFinite ? "KL term" : "reconstruction loss"
                    throw CollectiveFailure(failedRanks: Array(0..<communicator.size),
                                            local: TrainerError.nonFiniteLoss(step: position.globalStep + 1, term: term), summary: nil)
                }
                position.globalStep += 1
                position.stepInEpoch += 1
                position.epochTerms += terms

                if leader && (position.stepInEpoch % config.logEvery == 0 || position.stepInEpoch == total) {
                    let window = (clock.now - windowStart).seconds
                    let rate = Double(windowSamples) / max(window, 1e-9)
                    let remainingSteps = lastStep - position.globalStep
                    let eta = Double(remainingSteps) * Double(config.batchSize) / max(rate, 1e-9)
                    let seen = min(position.stepInEpoch * config.batchSize, data.train.count)
                    let mean = terms.perSample(klWeight: klWeight)
                    logger.info("\(String(format: "Train Epoch: %d [%d/%d (%.0f%%)]  Loss: %.6f  (recon %.4f, KL %.4f)  %.0f samples/s  ETA %@", epoch + 1, seen, data.train.count, 100 * Double(position.stepInEpoch) / Double(total), mean.loss, mean.reconstruction, mean.kl, rate, formatDuration(eta)))")
                    metrics.write(["type": "step", "epoch": epoch + 1, "step": position.stepInEpoch, "global_step": position.globalStep,
                                   "loss": mean.loss, "reconstruction": mean.reconstruction, "kl": mean.kl,
                                   "samples_per_second": rate])
                    if let tensorboard {
                        let step = position.globalStep
                        tensorboard.scalar("train/loss", mean.loss, step: step)
                        tensorboard.scalar("train/reconstruction", mean.reconstruction, step: step)
                        tensorboard.scalar("train/kl", mean.kl, step: step)
                        tensorboard.scalar("train/learning_rate", Double(optimizer.hyperparameters.learningRate), step: step)
                        tensorboard.scalar("train/samples_per_second", rate, step: step)
                    }
                    windowStart = clock.now
                    windowSamples = 0
                }
                if config.checkpointEvery > 0 && position.globalStep % config.checkpointEvery == 0
                    && position.stepInEpoch < total {
                    try save()
                }
                injectFaultAfterStep(position.globalStep)
                if config.divergenceCheckEvery > 0 && position.globalStep % config.divergenceCheckEvery == 0 {
                    try checkReplicasAgree()
                }
                if stopRequested() {
                    if savedStep != position.globalStep { try save() }
                    throw Interrupted(signal: Int32(control[0]), step: position.globalStep, checkpoint: lastCheckpoint)
                }
            }
            guard position.stepInEpoch == total else { break epochLoop }

            // Epoch end: test pass, summary, checkpoint at the next epoch's start.
            let train = position.epochTerms
            let test = evaluate(data.test)
            let seconds = (clock.now - epochStart).seconds
            summaries.append(EpochSummary(epoch: epoch + 1, train: train, test: test, seconds: seconds))
            if leader {
                let trainLoss = train.perSample(klWeight: klWeight).loss
                let testMean = test.perSample(klWeight: klWeight), testLoss = testMean.loss
                logger.info("\(String(format: "====> Epoch: %d Average loss: %.4f", epoch + 1, trainLoss))")
                logger.info("\(String(format: "====> Test set loss: %.4f  (recon %.4f, KL %.4f)  epoch %.1f s, %.0f train samples/s", testLoss, testMean.reconstruction, testMean.kl, seconds, Double(trainSamples) / max(trainSeconds, 1e-9)))")
                metrics.write(["type": "epoch", "epoch": epoch + 1, "global_step": position.globalStep, "train_loss": trainLoss,
                               "test_loss": testLoss, "test_reconstruction": testMean.reconstruction,
                               "test_kl": testMean.kl, "seconds": seconds])
                if let tensorboard {
                    tensorboard.scalar("epoch/train_loss", trainLoss, step: position.globalStep)
                    tensorboard.scalar("test/loss", testLoss, step: position.globalStep)
                    tensorboard.scalar("test/reconstruction", testMean.reconstruction, step: position.globalStep)
                    tensorboard.scalar("test/kl", testMean.kl, step: position.globalStep)
                }
            }
            try communicator.agree {
                try writeImages(epoch: epoch + 1)
                _ = try writeManifold(epoch: epoch + 1)
            }
            if config.nllImportanceSamples > 0 {
                // The importance-weighted NLL on the first test images, split across ranks (a collective).
                let nll = importanceWeightedNLL(data.test, samples: config.nllImportanceSamples, images: config.nllImages)
                if leader {
                    logger.info("\(String(format: "====> Test NLL (K = %d, %d images): %.4f ± %.4f", nll.samples, nll.images, nll.nll, nll.standardError))")
                    metrics.write(["type": "nll", "epoch": epoch + 1, "global_step": position.globalStep, "nll": nll.nll,
                                   "nll_standard_error": nll.standardError, "importance_samples": nll.samples, "images": nll.images])
                    tensorboard?.scalar("test/nll", nll.nll, step: position.globalStep)
                }
            }
            position.epoch += 1
            position.stepInEpoch = 0
            position.epochTerms = LossTerms()
            try save()
        }
        // A run that stops inside an epoch (max steps) saves where it stopped, unless that step is saved already.
        if position.stepInEpoch > 0 && savedStep != position.globalStep { try save() }
        return TrainingSummary(position: position, epochs: summaries,
                               samplesPerSecond: Double(trainSamples) / max(trainSeconds, 1e-9), lastCheckpoint: lastCheckpoint)
    }
}

extension LossTerms {
    /// The doubles (reconstruction, KL, samples) loss terms travel as between ranks.
    static let slotWidth = 3

    /// Writes the terms into the ``slotWidth`` doubles at `slot`.
    func write(to slot: UnsafeMutablePointer<Double>) {
        slot[0] = reconstruction
        slot[1] = kl
        slot[2] = Double(samples)
    }

    /// The terms ``write(to:)`` stored at `slot`.
    init(slot: UnsafePointer<Double>) {
        self.init(reconstruction: slot[0], kl: slot[1], samples: Int(slot[2]))
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}

extension Architecture {
    /// `784–400–20–400–784 relu bernoulli`.
    public var describe: String {
        let widths = [inputSize] + encoderHidden + [latentSize] + decoderHidden + [inputSize]
        let likelihoodName: String
        switch likelihood {
        case .bernoulli: likelihoodName = "bernoulli"
        case .gaussian(.learned): likelihoodName = "gaussian (learned variance)"
        case .gaussian(.fixed(let v)): likelihoodName = "gaussian (variance \(v))"
        }
        return widths.map(String.init).joined(separator: "–") + " \(activation.rawValue) \(likelihoodName)"
    }
}
