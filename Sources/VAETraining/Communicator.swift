/// A reduction operator.
public enum ReductionOperation: Sendable {
    case sum, min, max
}

/// The collective operations the trainer needs, and nothing else. The trainer talks only to this protocol:
/// ``SingleProcessCommunicator`` (no MPI at all) and, when launched by mpirun, `MPICommunicator` (VAEMPI).
///
/// Every rank must call the same collectives in the same order; a result is the same bits on every rank.
public protocol Communicator: AnyObject {
    /// This process's rank, 0 ..< size.
    var rank: Int { get }
    /// The number of ranks.
    var size: Int { get }
    /// In-place reduction of `buffer` over all ranks.
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation)
    /// In-place reduction of `buffer` over all ranks.
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReductionOperation)
    /// In-place reduction of `buffer` over all ranks (exact).
    func allReduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ operation: ReductionOperation)
    /// Copies `bytes` from rank `root` to every rank.
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int)
    /// Starts an in-place float sum of `buffer` in request `slot` (0..<4) and returns at once; ``wait(slot:)``
    /// completes it. The buffer must not be touched until then.
    func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>, slot: Int)
    /// Completes the reduction started in `slot`.
    func wait(slot: Int)
    /// Reduce-scatter (sum): `source` is cut into `shards` (one range per rank, in rank order, covering it);
    /// this rank's `shard` receives the sum over ranks of `source[shards[rank]]`.
    func reduceScatterSum(_ source: UnsafeBufferPointer<Float>, into shard: UnsafeMutableBufferPointer<Float>,
                          shards: ShardLayout)
    /// In-place all-gather: each rank's range `shards[rank]` of `buffer` reaches every rank.
    func allGather(_ buffer: UnsafeMutableBufferPointer<Float>, shards: ShardLayout)
    /// Waits until every rank has arrived.
    func barrier()
    /// Ends every rank of the job at once with `code` (for a local error the others cannot learn of).
    func abort(code: Int32) -> Never
    /// Where this rank sits: its node (the ranks that can share memory), its rank there, the node count.
    func nodeTopology() -> NodeTopology
    /// Collective over this rank's node: `bytes` of memory for this rank that every rank of the node can read and
    /// write (each rank may ask a different size). Throws when the node cannot share memory.
    func allocateNodeSharedMemory(bytes: Int) throws -> NodeSharedMemory
    /// Starts the stall watchdog: a collective that waits longer than `limitSeconds` ends the job with a message
    /// naming the operation and the step (0: off).
    func startWatchdog(limitSeconds: Double)
    /// The training step now running, for the watchdog's message.
    func watch(step: Int)
}

/// How a job's ranks sit on nodes (machines, or the groups of ranks that share memory).
public struct NodeTopology: Equatable, Sendable {
    /// This rank's index among its node's ranks.
    public var localRank: Int
    /// The number of ranks on this rank's node.
    public var localSize: Int
    /// The number of nodes.
    public var nodeCount: Int
    /// Whether every node has the same number of ranks.
    public var uniform: Bool
    /// Where MPI keeps node-shared memory (a tmpfs such as /dev/shm), when that is a folder.
    public var sharedMemoryDirectory: String?
    /// Free bytes there now (nil: unknown or not limited).
    public var sharedMemoryFreeBytes: Int?

    public init(localRank: Int, localSize: Int, nodeCount: Int, uniform: Bool,
                sharedMemoryDirectory: String? = nil, sharedMemoryFreeBytes: Int? = nil) {
        self.localRank = localRank
        self.localSize = localSize
        self.nodeCount = nodeCount
        self.uniform = uniform
        self.sharedMemoryDirectory = sharedMemoryDirectory
        self.sharedMemoryFreeBytes = sharedMemoryFreeBytes
    }
}

/// Memory that every rank of one node reads and writes (an MPI-3 shared window): one segment per local rank,
/// held until the object is released (which is collective over the node, like its allocation).
public protocol NodeSharedMemory: AnyObject {
    /// Local rank `localRank`'s segment, of the size that rank asked for.
    func segment(of localRank: Int) -> UnsafeMutableRawPointer
    /// Memory fence and barrier over the node: writes before it, by any local rank, are visible to all after it.
    func synchronizeNode()
    /// In-place float sum over the ranks that have this rank's local rank, one per node (nothing with one node).
    func allReduceAcrossNodes(_ buffer: UnsafeMutableBufferPointer<Float>)
}

/// A failure that every rank has agreed on, so every rank can stop cleanly with no one left waiting.
public struct CollectiveFailure: Error, CustomStringConvertible {
    /// The ranks on which the failure happened.
    public let failedRanks: [Int]
    /// This rank's own error, when it is one of `failedRanks`.
    public let local: Error?
    /// A job-wide explanation (e.g. which ranks disagree), when there is one.
    public let summary: String?

    public var description: String {
        if let local { return "\(local)" }
        if let summary { return summary }
        return "stopping: rank\(failedRanks.count == 1 ? "" : "s") \(failedRanks.map(String.init).joined(separator: ", ")) failed (see \(failedRanks.count == 1 ? "its" : "their") message)"
    }
}

extension Communicator {
    /// Whether this rank logs, writes metrics and checkpoints.
    public var isLeader: Bool { rank == 0 }

    /// In-place sum over all ranks.
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) { allReduce(buffer, .sum) }
    /// In-place sum over all ranks.
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) { allReduce(buffer, .sum) }

    /// Every rank's `value`, indexed by rank (an all-gather built from an exact integer sum).
    public func gather(_ value: Int64) -> [Int64] {
        var values = [Int64](repeating: 0, count: size)
        values[rank] = value
        values.withUnsafeMutableBufferPointer { allReduce($0, .sum) }
        return values
    }

    /// Runs `body` on every rank and agrees on the outcome: if it threw on any rank, every rank throws a
    /// ``CollectiveFailure`` naming the failed ranks (carrying its own error where it failed), so an error that
    /// only some ranks see never leaves the others waiting in a collective.
    public func agree<T>(_ body: () throws -> T) throws -> T {
        var result: Result<T, Error>
        do { result = .success(try body()) } catch { result = .failure(error) }
        if case .failure(let error) = result, error is CollectiveFailure { throw error }  // already agreed
        if size == 1 {
            if case .failure(let error) = result { throw CollectiveFailure(failedRanks: [0], local: error, summary: nil) }
        }
        var failed: Int64 = 0
        if case .failure = result { failed = 1 }
        let flags = gather(failed)
        let failedRanks = flags.indices.filter { flags[$0] != 0 }
        guard failedRanks.isEmpty else {
            var local: Error?
            if case .failure(let error) = result { local = error }
            throw CollectiveFailure(failedRanks: failedRanks, local: local, summary: nil)
        }
        return try result.get()
    }

    /// Stops every rank with a message naming the ranks whose `value` differs from rank 0's.
    public func requireSame(_ value: Int64, what: String, hint: String) throws {
        guard size > 1 else { return }
        let values = gather(value)
        let differing = values.indices.filter { values[$0] != values[0] }
        guard differing.isEmpty else {
            let names = differing.map { "rank \($0) (\(values[$0]))" }.joined(separator: ", ")
            throw CollectiveFailure(failedRanks: differing, local: nil,
                                    summary: "\(what) differs across ranks: rank 0 has \(values[0]), \(names). \(hint)")
        }
    }

    /// Broadcasts a byte array from `root` (which passes it; the others pass nil), length first.
    public func broadcast(bytes: [UInt8]?, root: Int = 0) -> [UInt8] {
        var length: [Int64] = [Int64(bytes?.count ?? 0)]
        length.withUnsafeMutableBytes { broadcast($0, root: root) }
        var out = rank == root ? bytes! : [UInt8](repeating: 0, count: Int(length[0]))
        out.withUnsafeMutableBytes { broadcast($0, root: root) }
        return out
    }
}

/// A flat buffer of `count` elements cut into one contiguous shard per rank (the first `count % ranks` shards
/// one element longer), with the counts and offsets MPI needs preallocated.
public final class ShardLayout {
    public let count: Int
    public let ranks: Int
    public let counts: UnsafeMutableBufferPointer<Int32>
    public let offsets: UnsafeMutableBufferPointer<Int32>

    public init(count: Int, ranks: Int) {
        precondition(count < Int(Int32.max), "shard layout over 2³¹ elements")
        self.count = count
        self.ranks = ranks
        counts = .allocate(capacity: ranks)
        offsets = .allocate(capacity: ranks)
        var offset = 0
        for r in 0..<ranks {
            let n = count / ranks + (r < count % ranks ? 1 : 0)
            counts[r] = Int32(n)
            offsets[r] = Int32(offset)
            offset += n
        }
    }

    deinit {
        counts.deallocate()
        offsets.deallocate()
    }

    /// Rank `r`'s range of the buffer.
    public func range(of r: Int) -> Range<Int> { Int(offsets[r])..<(Int(offsets[r]) + Int(counts[r])) }
}

/// One process, no MPI: every collective is the identity.
public final class SingleProcessCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation) {}
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReductionOperation) {}
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ operation: ReductionOperation) {}
    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) {}
    public func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>, slot: Int) {}
    public func wait(slot: Int) {}
    public func reduceScatterSum(_ source: UnsafeBufferPointer<Float>, into shard: UnsafeMutableBufferPointer<Float>,
                                 shards: ShardLayout) {
        shard.baseAddress!.update(from: source.baseAddress!, count: shard.count)
    }
    public func allGather(_ buffer: UnsafeMutableBufferPointer<Float>, shards: ShardLayout) {}
    public func barrier() {}
    public func nodeTopology() -> NodeTopology { NodeTopology(localRank: 0, localSize: 1, nodeCount: 1, uniform: true) }
    public func allocateNodeSharedMemory(bytes: Int) throws -> NodeSharedMemory { ProcessMemory(bytes: bytes) }
    public func abort(code: Int32) -> Never { exit(code) }
    public func startWatchdog(limitSeconds: Double) {}
    public func watch(step: Int) {}
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One process's "node memory": a page-aligned heap block, nothing to synchronize.
final class ProcessMemory: NodeSharedMemory {
    let base: UnsafeMutableRawPointer

    init(bytes: Int) {
        base = .allocate(byteCount: max(bytes, 1), alignment: 4096)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(bytes, 1))
    }

    deinit { base.deallocate() }

    func segment(of localRank: Int) -> UnsafeMutableRawPointer {
        precondition(localRank == 0, "one process has one segment")
        return base
    }

    func synchronizeNode() {}
    func allReduceAcrossNodes(_ buffer: UnsafeMutableBufferPointer<Float>) {}
}
