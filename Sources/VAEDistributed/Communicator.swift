/// A reduction operator.
public enum ReductionOperation: Sendable {
    case sum, min, max
}

/// The collectives the trainer and the gradient exchanges use. ``SingleProcessCommunicator`` (no MPI at all) and,
/// when launched by mpirun, `MPICommunicator` (VAEMPI) implement it.
///
/// Every rank must call the same collectives in the same order; a result is the same bits on every rank.
///
/// The core is the first eight requirements. The rest (non-blocking sums, reduce-scatter, all-gather, node-shared
/// memory, the stall watchdog) have default implementations built from the core, so a test double implements
/// only what it changes; MPI's implementation replaces them with MPI's own calls.
public protocol Communicator: AnyObject {
    /// This process's rank, 0 ..< size.
    var rank: Int { get }
    /// The number of ranks.
    var size: Int { get }
    /// The ranks as the start line names them: "N rank(s)", or what they are made of (threads, processes × threads).
    var ranksDescription: String { get }
    /// In-place reduction of `buffer` over all ranks.
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation)
    /// In-place reduction of `buffer` over all ranks.
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReductionOperation)
    /// In-place reduction of `buffer` over all ranks (exact).
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ operation: ReductionOperation)
    /// Copies `bytes` from rank `root` to every rank.
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int)
    /// Waits until every rank has arrived.
    func barrier()
    /// Ends every rank of the job at once with `code` (for a local error the others cannot learn of).
    func abort(code: Int32) -> Never

    /// Starts an in-place float sum of `buffer` in request `slot` (0..<4) and returns; ``wait(slot:)`` completes
    /// it. The buffer must not be touched until then. Default: the blocking sum, done at once.
    func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>, slot: Int)
    /// Completes the reduction started in `slot`. Default: nothing to wait for.
    func wait(slot: Int)
    /// Reduce-scatter (sum): `source` is cut into `shards` (one range per rank, in rank order, covering it);
    /// this rank's `shard` receives the sum over ranks of `source[shards[rank]]`. Default: a full sum of a copy.
    func reduceScatterSum(
        _ source: UnsafeBufferPointer<Float>, into shard: UnsafeMutableBufferPointer<Float>,
        shards: ShardLayout)
    /// In-place all-gather: each rank's range `shards[rank]` of `buffer` reaches every rank. Default: the other
    /// ranges zeroed, then a sum.
    func allGather(_ buffer: UnsafeMutableBufferPointer<Float>, shards: ShardLayout)
    /// Where this rank sits: its node (the ranks that can share memory), its rank there, the node count.
    /// Default: every rank alone on its node.
    func nodeTopology() -> NodeTopology
    /// Collective over this rank's node: `bytes` of memory for this rank that every rank of the node can read and
    /// write (each rank may ask a different size). Throws when the node cannot share memory. Default: a heap
    /// block when the job is one process.
    func allocateNodeSharedMemory(bytes: Int) throws -> NodeSharedMemory
    /// Starts the stall watchdog: a collective that waits longer than `limitSeconds` ends the job with a message
    /// naming the operation and the step (0: off). Default: none.
    func startWatchdog(limitSeconds: Double)
    /// The training step now running, for the watchdog's message. Default: nothing.
    func watch(step: Int)
}

/// The node cannot give this rank shared memory.
public struct NodeSharedMemoryUnavailable: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { "node-shared memory is unavailable: \(reason)" }
}

extension Communicator {
    public var ranksDescription: String { "\(size) rank(s)" }

    /// This rank's share of `count` rows, micro-batches or samples: [count·r/N, count·(r+1)/N) — the one place a
    /// rank's share is computed (a global batch divides evenly: ``ExchangeStrategy/validate(globalBatchSize:ranks:microBatches:)``).
    public func share(of count: Int) -> Range<Int> { (count * rank / size)..<(count * (rank + 1) / size) }

    public func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>, slot: Int) { allReduce(buffer, .sum) }

    public func wait(slot: Int) {}

    public func reduceScatterSum(
        _ source: UnsafeBufferPointer<Float>, into shard: UnsafeMutableBufferPointer<Float>,
        shards: ShardLayout
    ) {
        var sum = Array(source)
        sum.withUnsafeMutableBufferPointer { allReduce($0, .sum) }
        let mine = shards.range(of: rank)
        for i in 0..<shard.count { shard[i] = sum[mine.lowerBound + i] }
    }

    public func allGather(_ buffer: UnsafeMutableBufferPointer<Float>, shards: ShardLayout) {
        let mine = shards.range(of: rank)
        for i in buffer.indices where !mine.contains(i) { buffer[i] = 0 }
        allReduce(buffer, .sum)
    }

    public func nodeTopology() -> NodeTopology {
        NodeTopology(localRank: 0, localSize: 1, nodeCount: size, uniform: true)
    }

    public func allocateNodeSharedMemory(bytes: Int) throws -> NodeSharedMemory {
        guard size == 1 else { throw NodeSharedMemoryUnavailable(reason: "this communicator has no shared windows") }
        return ProcessMemory(bytes: bytes)
    }

    public func startWatchdog(limitSeconds: Double) {}

    public func watch(step: Int) {}
}
