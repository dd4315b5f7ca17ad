#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation

/// The threads of one process as the ranks of one node: each thread gets a ``ThreadCommunicator`` (rank = thread
/// index) and runs the same code an MPI rank runs, so the trainer, the exchanges and their guarantees carry over
/// unchanged. With the node-shared exchange the threads share one copy of the parameters and moments (plain memory
/// here), each sums its shard of every thread's gradient in thread order and steps Adam on it — the same bits as
/// `mpirun -n T` with node-shared on one machine, whatever the threads' timing.
///
/// Collectives meet at a barrier: a reduction is computed by thread 0 in thread order into a shared scratch buffer,
/// then every thread copies it out, so every thread gets the same bits.
public final class ThreadGroup: @unchecked Sendable {
    /// The number of threads (ranks).
    public let size: Int
    let barrierState: UnsafeMutablePointer<pthread_barrier_t>
    /// Each thread's published buffer (a collective's operand) and requested size (node-shared memory).
    let pointers: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    let requests: UnsafeMutablePointer<Int>
    /// Thread 0's reduction result, grown to the largest collective seen (once, at start-up for the trainer's).
    var scratch: UnsafeMutableRawPointer?
    var scratchBytes = 0
    /// The node-shared memory the last allocation made (handed from thread 0 to the others).
    var shared: ThreadSharedMemory?

    public init(size: Int) {
        precondition(size >= 1, "a thread group needs at least one thread")
        self.size = size
        barrierState = .allocate(capacity: 1)
        pthread_barrier_init(barrierState, nil, UInt32(size))
        pointers = .allocate(capacity: size)
        pointers.initialize(repeating: nil, count: size)
        requests = .allocate(capacity: size)
        requests.initialize(repeating: 0, count: size)
    }

    deinit {
        pthread_barrier_destroy(barrierState)
        barrierState.deallocate()
        pointers.deallocate()
        requests.deallocate()
        scratch?.deallocate()
    }

    /// Every thread waits here until all have arrived (a memory barrier too: writes before it are visible after it).
    func wait() { _ = pthread_barrier_wait(barrierState) }

    /// Runs `body` on `size` threads, thread 0 on the calling thread, and returns each thread's result in rank order.
    public func run<T>(stackBytes: Int = 64 << 20, _ body: @escaping @Sendable (ThreadCommunicator) -> T) -> [T] {
        let slots = (0..<size).map { _ in ThreadResult<T>() }
        for rank in 1..<max(size, 1) {
            let thread = Thread { [self] in
                slots[rank].value = body(ThreadCommunicator(group: self, rank: rank))
                slots[rank].done.signal()
            }
            thread.stackSize = stackBytes
            thread.start()
        }
        slots[0].value = body(ThreadCommunicator(group: self, rank: 0))
        for rank in 1..<max(size, 1) { slots[rank].done.wait() }
        return slots.map { $0.value! }
    }

    /// Thread 0's scratch of at least `bytes` (called by thread 0 between barriers).
    func scratch(bytes: Int) -> UnsafeMutableRawPointer {
        if bytes > scratchBytes {
            scratch?.deallocate()
            scratch = .allocate(byteCount: bytes, alignment: 64)
            scratchBytes = bytes
        }
        return scratch!
    }
}

/// A thread's result and the signal that it is there.
final class ThreadResult<T>: @unchecked Sendable {
    var value: T?
    let done = DispatchSemaphore(value: 0)
}

/// One thread's view of a ``ThreadGroup``: the ``Communicator`` its trainer uses.
public final class ThreadCommunicator: Communicator {
    public let group: ThreadGroup
    public let rank: Int
    public var size: Int { group.size }

    init(group: ThreadGroup, rank: Int) {
        self.group = group
        self.rank = rank
    }

    /// The reduction of every thread's `buffer`, in thread order, into every thread's `buffer`.
    func reduce<Element: Numeric & Comparable>(_ buffer: UnsafeMutableBufferPointer<Element>, _ operation: ReductionOperation) {
        guard size > 1 else { return }
        group.pointers[rank] = buffer.count > 0 ? UnsafeMutableRawPointer(buffer.baseAddress!) : nil
        group.wait()
        let count = buffer.count
        if rank == 0 && count > 0 {
            let result = group.scratch(bytes: count * MemoryLayout<Element>.stride).bindMemory(to: Element.self, capacity: count)
            result.update(from: buffer.baseAddress!, count: count)
            for other in 1..<size {
                let source = group.pointers[other]!.assumingMemoryBound(to: Element.self)
                switch operation {
                case .sum: for i in 0..<count { result[i] += source[i] }
                case .min: for i in 0..<count where source[i] < result[i] { result[i] = source[i] }
                case .max: for i in 0..<count where source[i] > result[i] { result[i] = source[i] }
                }
            }
        }
        group.wait()
        if count > 0 {
            buffer.baseAddress!.update(from: group.scratch!.assumingMemoryBound(to: Element.self), count: count)
        }
        group.wait()  // the scratch is free again
    }

    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation) { reduce(buffer, operation) }
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReductionOperation) { reduce(buffer, operation) }
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ operation: ReductionOperation) { reduce(buffer, operation) }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) {
        guard size > 1 else { return }
        if rank == root { group.pointers[root] = bytes.baseAddress }
        group.wait()
        if rank != root, bytes.count > 0 { bytes.baseAddress!.copyMemory(from: group.pointers[root]!, byteCount: bytes.count) }
        group.wait()
    }

    public func barrier() { group.wait() }

    /// Each thread sums its own shard over every thread's `source`, in thread order, straight into `shard`.
    public func reduceScatterSum(
        _ source: UnsafeBufferPointer<Float>, into shard: UnsafeMutableBufferPointer<Float>, shards: ShardLayout
    ) {
        let mine = shards.range(of: rank)
        group.pointers[rank] = UnsafeMutableRawPointer(mutating: source.baseAddress)
        group.wait()
        if let out = shard.baseAddress, !mine.isEmpty {
            for other in 0..<size {
                let input = group.pointers[other]!.assumingMemoryBound(to: Float.self) + mine.lowerBound
                if other == 0 { out.update(from: input, count: mine.count) } else { for i in 0..<mine.count { out[i] += input[i] } }
            }
        }
        group.wait()  // every source read
    }

    /// Each thread copies every other thread's range of its `buffer` into its own.
    public func allGather(_ buffer: UnsafeMutableBufferPointer<Float>, shards: ShardLayout) {
        group.pointers[rank] = UnsafeMutableRawPointer(buffer.baseAddress)
        group.wait()
        for other in 0..<size where other != rank {
            let range = shards.range(of: other)
            guard !range.isEmpty else { continue }
            (buffer.baseAddress! + range.lowerBound).update(
                from: group.pointers[other]!.assumingMemoryBound(to: Float.self) + range.lowerBound, count: range.count)
        }
        group.wait()  // every range copied before anyone writes again
    }

    /// Ends the whole process (every thread of the job) at once.
    public func abort(code: Int32) -> Never { exit(code) }

    public func nodeTopology() -> NodeTopology {
        NodeTopology(localRank: rank, localSize: size, nodeCount: 1, uniform: true)
    }

    /// One zeroed block in this process holding every thread's segment (64-byte aligned each); the same object on
    /// every thread, freed when the last thread lets it go.
    public func allocateNodeSharedMemory(bytes: Int) throws -> NodeSharedMemory {
        group.requests[rank] = bytes
        group.wait()
        if rank == 0 {
            let sizes = (0..<size).map { group.requests[$0] }
            group.shared = ThreadSharedMemory(group: group, sizes: sizes)
        }
        group.wait()
        let memory = group.shared!
        group.wait()
        if rank == 0 { group.shared = nil }
        return memory
    }
}

/// Node-shared memory of a thread group: one heap block, a barrier for ``synchronizeNode()``, one node.
final class ThreadSharedMemory: NodeSharedMemory {
    let group: ThreadGroup
    let base: UnsafeMutableRawPointer
    let offsets: [Int]

    init(group: ThreadGroup, sizes: [Int]) {
        self.group = group
        var offsets: [Int] = []
        var total = 0
        for size in sizes {
            offsets.append(total)
            total += (size + 63) / 64 * 64
        }
        self.offsets = offsets
        base = .allocate(byteCount: max(total, 1), alignment: 4096)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(total, 1))
    }

    deinit { base.deallocate() }

    func segment(of localRank: Int) -> UnsafeMutableRawPointer { base + offsets[localRank] }
    func synchronizeNode() { group.wait() }
    func allReduceAcrossNodes(_ buffer: UnsafeMutableBufferPointer<Float>) {}
}
