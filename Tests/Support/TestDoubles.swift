import VAEDistributed
import VAEModel

// The test doubles of the communicator and exchange layers, in one place (VAETestSupport: a test-support target
// that only the test bundle and vae-dist-mpi-check link).

/// A communicator that forwards every collective to `base`; the negative controls override one.
open class ForwardingCommunicator: Communicator {
    public let base: Communicator
    public init(base: Communicator) { self.base = base }
    public var rank: Int { base.rank }
    public var size: Int { base.size }
    public var ranksDescription: String { base.ranksDescription }
    open func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation) {
        base.allReduce(buffer, operation)
    }
    open func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReductionOperation) {
        base.allReduce(buffer, operation)
    }
    open func allReduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ operation: ReductionOperation) {
        base.allReduce(buffer, operation)
    }
    open func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) { base.broadcast(bytes, root: root) }
    open func barrier() { base.barrier() }
    open func abort(code: Int32) -> Never { base.abort(code: code) }
    open func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>, slot: Int) {
        base.startAllReduceSum(buffer, slot: slot)
    }
    open func wait(slot: Int) { base.wait(slot: slot) }
    open func reduceScatterSum(
        _ source: UnsafeBufferPointer<Float>, into shard: UnsafeMutableBufferPointer<Float>, shards: ShardLayout
    ) {
        base.reduceScatterSum(source, into: shard, shards: shards)
    }
    open func allGather(_ buffer: UnsafeMutableBufferPointer<Float>, shards: ShardLayout) {
        base.allGather(buffer, shards: shards)
    }
    open func nodeTopology() -> NodeTopology { base.nodeTopology() }
    open func allocateNodeSharedMemory(bytes: Int) throws -> NodeSharedMemory { try base.allocateNodeSharedMemory(bytes: bytes) }
    open func startWatchdog(limitSeconds: Double) { base.startWatchdog(limitSeconds: limitSeconds) }
    open func watch(step: Int) { base.watch(step: step) }
}

/// Sums, then divides by the rank count: the *wrong* reduction for a summed loss (negative control).
public final class AveragingCommunicator: ForwardingCommunicator {
    public override func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation) {
        base.allReduce(buffer, operation)
        if operation == .sum { for i in buffer.indices { buffer[i] /= Float(size) } }
    }
}

/// Never sums float buffers: each rank steps on its own slice only (negative control).
public final class LocalOnlyCommunicator: ForwardingCommunicator {
    public override func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation) {}
}

/// One process whose node topology reports `free` bytes free in /dev/shm.
public final class TightSharedMemory: ForwardingCommunicator {
    let free: Int
    public init(free: Int) {
        self.free = free
        super.init(base: SingleProcessCommunicator())
    }
    public override func nodeTopology() -> NodeTopology {
        NodeTopology(
            localRank: 0, localSize: 1, nodeCount: 1, uniform: true, sharedMemoryDirectory: "/dev/shm",
            sharedMemoryFreeBytes: free)
    }
}

/// The node-shared exchange with its ranks summing only their own gradient (negative control).
public enum OwnGradientOnlyExchange {
    public static func make(
        communicator: Communicator, topology: NodeTopology, settings: ExchangeSettings
    ) throws -> NodeSharedExchange {
        try NodeSharedExchange(communicator: communicator, topology: topology, settings: settings, localSum: { _ in })
    }
}

/// Forwards every collective and counts, by operation, the heap allocations made inside them on this thread
/// (`count` reads the calling thread's allocation counter): what the MPI library allocates, told apart from the
/// trainer's own.
public final class AllocationAttributingCommunicator: ForwardingCommunicator {
    /// The kinds of collective counted apart.
    public enum Kind: Int, CaseIterable, Sendable { case allReduce, nonBlocking, reduceScatter, allGather, other }

    let count: () -> UInt64
    /// Allocations inside each kind of collective since the last ``reset()``, by ``Kind`` (a preallocated buffer,
    /// so counting allocates nothing itself).
    let counts = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: Kind.allCases.count)

    public init(base: Communicator, count: @escaping () -> UInt64) {
        self.count = count
        counts.initialize(repeating: 0)
        super.init(base: base)
    }

    deinit { counts.deallocate() }

    public func reset() { counts.update(repeating: 0) }

    /// Allocations inside collectives of `kind` since the last reset.
    public func inside(_ kind: Kind) -> UInt64 { counts[kind.rawValue] }

    /// Allocations inside collectives since the last reset, in all.
    public var total: UInt64 { counts.reduce(0, +) }

    @inline(__always) func attribute(_ kind: Kind, _ body: () -> Void) {
        let before = count()
        body()
        counts[kind.rawValue] &+= count() &- before
    }

    public override func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation) {
        attribute(.allReduce) { base.allReduce(buffer, operation) }
    }
    public override func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReductionOperation) {
        attribute(.allReduce) { base.allReduce(buffer, operation) }
    }
    public override func allReduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ operation: ReductionOperation) {
        attribute(.allReduce) { base.allReduce(buffer, operation) }
    }
    public override func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>, slot: Int) {
        attribute(.nonBlocking) { base.startAllReduceSum(buffer, slot: slot) }
    }
    public override func wait(slot: Int) { attribute(.nonBlocking) { base.wait(slot: slot) } }
    public override func reduceScatterSum(
        _ source: UnsafeBufferPointer<Float>, into shard: UnsafeMutableBufferPointer<Float>, shards: ShardLayout
    ) {
        attribute(.reduceScatter) { base.reduceScatterSum(source, into: shard, shards: shards) }
    }
    public override func allGather(_ buffer: UnsafeMutableBufferPointer<Float>, shards: ShardLayout) {
        attribute(.allGather) { base.allGather(buffer, shards: shards) }
    }
    public override func barrier() { attribute(.other) { base.barrier() } }
    public override func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) {
        attribute(.other) { base.broadcast(bytes, root: root) }
    }
}
