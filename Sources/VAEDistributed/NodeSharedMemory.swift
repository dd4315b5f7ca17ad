#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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

    public init(
        localRank: Int, localSize: Int, nodeCount: Int, uniform: Bool,
        sharedMemoryDirectory: String? = nil, sharedMemoryFreeBytes: Int? = nil
    ) {
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
    /// Every node's `send` (the ranks with this rank's local rank, one per node), in node order, into `receive`
    /// (`send.count` × node count bytes). Default: one node, a copy.
    func allGatherAcrossNodes(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer)
    /// Non-blocking ``allReduceAcrossNodes(_:)`` in request slot `slot` (1 ..< 4; 0 is the all-reduce's):
    /// `buffer` is not to be touched until ``finishAcrossNodes(slot:)``. Default: done at once.
    func startAllReduceAcrossNodes(_ buffer: UnsafeMutableBufferPointer<Float>, slot: Int)
    /// Non-blocking ``allGatherAcrossNodes(_:into:)`` in request slot `slot`. Default: done at once.
    func startAllGatherAcrossNodes(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer, slot: Int)
    /// Lets a started operation move along (MPI makes progress only inside its calls). Default: nothing.
    func progressAcrossNodes(slot: Int)
    /// Waits until the operation started in `slot` is done. Default: nothing.
    func finishAcrossNodes(slot: Int)
}

extension NodeSharedMemory {
    public func startAllReduceAcrossNodes(_ buffer: UnsafeMutableBufferPointer<Float>, slot: Int) { allReduceAcrossNodes(buffer) }
    public func startAllGatherAcrossNodes(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer, slot: Int)
    {
        allGatherAcrossNodes(send, into: receive)
    }
    public func progressAcrossNodes(slot: Int) {}
    public func finishAcrossNodes(slot: Int) {}

    public func allGatherAcrossNodes(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer) {
        guard let source = send.baseAddress, send.count > 0 else { return }
        receive.baseAddress!.copyMemory(from: source, byteCount: send.count)
    }
}

/// One process's "node memory": a page-aligned, zeroed heap block, nothing to synchronize.
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
