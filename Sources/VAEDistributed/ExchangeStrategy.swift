#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation
import VAEModel

/// The gradient exchanges a run can ask for (`training.gradient_exchange`, `--gradient-exchange`). Adding a
/// strategy is one file under Exchanges/ plus its case here and its line in ``make(communicator:settings:warn:)``.
public enum ExchangeStrategy: String, CaseIterable, Sendable {
    /// `node-shared` where it applies (under mpirun, the same number of ranks, more than one, on every node, and
    /// room in the shared-memory folder), else `allreduce`.
    case auto
    /// ``AllReduceExchange``: one MPI all-reduce of the flat gradient buffer.
    case allreduce
    /// ``OverlappedAllReduceExchange``: the decoder's all-reduce runs while the encoder's backward does.
    case allreduceOverlapped = "allreduce-overlapped"
    /// ``ShardedAdamExchange``: ZeRO-1, reduce-scatter, Adam on 1/N, all-gather.
    case shardedAdam = "sharded-adam"
    /// ``NodeSharedExchange``: one copy of the parameters and moments per node in shared memory.
    case nodeShared = "node-shared"
    /// ``ExactExchange``: fixed micro-batches and a fixed-point sum, the same bits at any rank count.
    case exact

    /// What it does, in one line (`--help`).
    public var summary: String {
        switch self {
        case .auto: return "node-shared where it applies (several ranks on every node, the same number on each), else allreduce"
        case .allreduce: return "one MPI all-reduce of the gradients; every rank keeps its own parameters and Adam moments"
        case .allreduceOverlapped: return "the decoder's all-reduce runs during the encoder's backward"
        case .shardedAdam: return "ZeRO-1: reduce-scatter, Adam on each rank's 1/N, all-gather"
        case .nodeShared:
            return "one copy of the parameters and moments per node in shared memory; each rank sums and updates its shard"
        case .exact: return "fixed micro-batches and a fixed-point sum: the same bits at any rank count"
        }
    }

    /// Whether the strategy changes the training trajectory's bits (and so belongs in the configuration hash
    /// and the checkpoint): only the exact sum does, by its micro-batches.
    public var definesTrajectory: Bool { self == .exact }

    /// Whether the strategy may use the node-shared exchange's hop between hosts (compression, overlap): node-shared
    /// itself, and auto, which may choose it.
    public var mayCrossNodes: Bool { self == .auto || self == .nodeShared }

    /// Whether a run's sums are the same bits at any rank count (so a resume at another count continues exactly).
    public var sameBitsAtAnyRankCount: Bool { self == .exact }

    /// The strategy an evaluation of a checkpoint trained with this one uses: the same split of the test set.
    public var forEvaluation: ExchangeStrategy { self == .exact ? .exact : .allreduce }

    /// The global batch an evaluation with ``forEvaluation`` on `ranks` ranks takes, for a run trained at global
    /// batch `batch`: the test pass then runs in the training run's chunks (its per-rank batch, or the exact
    /// exchange's micro-batches), so the sums group alike and the loss is the same bits at the same rank count.
    public func evaluationBatchSize(trainedWith batch: Int, ranks: Int) -> Int {
        self == .exact ? batch : (batch + ranks - 1) / ranks * ranks
    }

    /// The strategy a deprecated key (`training.reduction: exact`, `training.sharded_optimizer: true`,
    /// `training.overlap_allreduce: true`) asks for.
    public static func legacy(key: String) -> ExchangeStrategy? {
        switch key {
        case "training.reduction": return .exact
        case "training.sharded_optimizer": return .shardedAdam
        case "training.overlap_allreduce": return .allreduceOverlapped
        default: return nil
        }
    }

    /// The strategy a run gets when `requested` is set and a deprecated key asked for `legacy`: the legacy one
    /// in place of `auto` or `allreduce` (as those keys did), an error against `node-shared` or another strategy.
    public static func resolve(requested: ExchangeStrategy, legacy: ExchangeStrategy?) throws -> ExchangeStrategy {
        guard let legacy, legacy != requested else { return requested }
        switch requested {
        case .auto, .allreduce: return legacy
        case .nodeShared:
            throw ExchangeError.nodeSharedUnavailable(
                reason: legacy.conflictWithNodeShared ?? "it conflicts with \(legacy.rawValue)")
        default: throw ExchangeError.conflicting(requested: requested, legacy: legacy)
        }
    }

    /// Why `node-shared` cannot be combined with this strategy.
    var conflictWithNodeShared: String? {
        switch self {
        case .exact: return "reduction exact has its own exchange"
        case .shardedAdam: return "the sharded optimizer (ZeRO-1) needs the all-reduce path"
        case .allreduceOverlapped: return "the overlapped all-reduce needs the all-reduce path"
        default: return nil
        }
    }

    /// The checks that need no data or communicator: a batch the ranks (and micro-batches) divide.
    public func validate(globalBatchSize: Int, ranks: Int, microBatches: Int) throws {
        guard globalBatchSize % ranks == 0 else {
            throw ExchangeError.batchNotDivisible(batchSize: globalBatchSize, ranks: ranks)
        }
        if self == .exact, globalBatchSize % microBatches != 0 || microBatches % ranks != 0 {
            throw ExchangeError.microBatchesNotDivisible(batchSize: globalBatchSize, microBatches: microBatches, ranks: ranks)
        }
    }

    /// The exchange this strategy gives on `communicator` (collective: every rank calls it). `auto` resolves here;
    /// a strategy that cannot work is an ``ExchangeError`` that says what to do; `warn` gets the reason when
    /// `auto` falls back.
    public func make(
        communicator: Communicator, settings: ExchangeSettings,
        warn: (String) -> Void = { _ in }
    ) throws -> any GradientExchange {
        try validate(globalBatchSize: settings.globalBatchSize, ranks: communicator.size, microBatches: settings.microBatches)
        switch self {
        case .auto:
            guard communicator.size > 1,
                let exchange = try NodeSharedExchange.ifAvailable(
                    communicator: communicator, settings: settings,
                    required: false, warn: warn)
            else { return AllReduceExchange(communicator: communicator, settings: settings) }
            return exchange
        case .allreduce: return AllReduceExchange(communicator: communicator, settings: settings)
        case .allreduceOverlapped: return OverlappedAllReduceExchange(communicator: communicator, settings: settings)
        case .shardedAdam: return ShardedAdamExchange(communicator: communicator, settings: settings)
        case .nodeShared:
            return try NodeSharedExchange.ifAvailable(communicator: communicator, settings: settings, required: true, warn: warn)!
        case .exact: return ExactExchange(communicator: communicator, settings: settings)
        }
    }
}

/// A gradient exchange that cannot run as asked, with what to do about it.
public enum ExchangeError: Error, CustomStringConvertible, Equatable {
    case batchNotDivisible(batchSize: Int, ranks: Int)
    case microBatchesNotDivisible(batchSize: Int, microBatches: Int, ranks: Int)
    case nodeSharedUnavailable(reason: String)
    case conflicting(requested: ExchangeStrategy, legacy: ExchangeStrategy)

    public var description: String {
        switch self {
        case .batchNotDivisible(let batchSize, let ranks):
            return
                "the global batch \(batchSize) does not divide among \(ranks) ranks; pick a --batch-size that is a multiple of \(ranks), or --batch-per-rank."
        case .microBatchesNotDivisible(let batchSize, let microBatches, let ranks):
            return
                "reduction exact: \(microBatches) micro-batches must divide the global batch \(batchSize) and be divisible by the \(ranks) ranks; "
                + (ExchangeError.microBatchSuggestion(batchSize: batchSize, microBatches: microBatches, ranks: ranks).map {
                    "set training.micro_batches (--micro-batches) to \($0)."
                } ?? "pick a --batch-size that is a multiple of \(ranks).")
        case .nodeSharedUnavailable(let reason):
            return "gradient_exchange node-shared: \(reason); use --gradient-exchange allreduce or auto."
        case .conflicting(let requested, let legacy):
            return
                "gradient_exchange \(requested.rawValue) conflicts with a deprecated key that asks for \(legacy.rawValue); drop training.reduction, training.sharded_optimizer and training.overlap_allreduce (and their flags) and set training.gradient_exchange alone."
        }
    }
}

extension NodeSharedExchange {
    /// The node-shared exchange when this job's nodes allow it; nil (with `warn` told why, where it is worth
    /// telling) when they do not and it is not `required`, an ``ExchangeError`` when it is.
    static func ifAvailable(
        communicator: Communicator, settings: ExchangeSettings, required: Bool,
        warn: (String) -> Void
    ) throws -> NodeSharedExchange? {
        let topology = communicator.nodeTopology()
        guard topology.uniform else {
            if required { throw ExchangeError.nodeSharedUnavailable(reason: "the nodes have different numbers of ranks") }
            return nil
        }
        if !required && topology.localSize == 1 { return nil }
        // Room in the shared-memory folder on every node (a full tmpfs would end the job with SIGBUS later).
        let needed = bytesPerNode(parameterCount: settings.layout.count, localSize: topology.localSize)
        let short = communicator.gather(Int64((topology.sharedMemoryFreeBytes ?? .max) < needed ? 1 : 0))
        let shortRanks = short.indices.filter { short[$0] != 0 }
        if !shortRanks.isEmpty {
            let megabytes = { (bytes: Int) in String(format: "%.1f MB", Double(bytes) / 1_048_576) }
            let reason =
                "it needs \(megabytes(needed)) of shared memory per node in \(topology.sharedMemoryDirectory ?? "/dev/shm"), "
                + "and rank\(shortRanks.count == 1 ? "" : "s") \(shortRanks.map(String.init).joined(separator: ", ")) "
                + "\(shortRanks.count == 1 ? "has" : "have") less free"
                + (topology.sharedMemoryFreeBytes.map { " (this rank: \(megabytes($0)))" } ?? "")
                + "; enlarge it (docker run --shm-size=1g)"
            if required { throw ExchangeError.nodeSharedUnavailable(reason: reason) }
            if communicator.isLeader { warn("gradient exchange: not node-shared memory: \(reason). Using the all-reduce.") }
            return nil
        }
        return try NodeSharedExchange(communicator: communicator, topology: topology, settings: settings)
    }
}

extension ExchangeError {
    /// The valid micro-batch count (a multiple of `ranks` dividing `batchSize`) nearest to the one that failed, or
    /// nil when there is none.
    static func microBatchSuggestion(batchSize: Int, microBatches: Int, ranks: Int) -> Int? {
        let step = max(ranks, 1)
        return stride(from: step, through: max(batchSize, step), by: step)
            .filter { batchSize % $0 == 0 && $0 != microBatches }
            .min { abs($0 - microBatches) < abs($1 - microBatches) }
    }
}
