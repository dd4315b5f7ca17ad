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
///
/// Hybrid: with an `outer` communicator (each MPI rank runs a thread group) the threads of every process are ranks
/// of one job — rank = process rank × threads + thread — and each process is a node of `size` ranks. Thread 0 (the
/// thread that started MPI) makes every MPI call: a reduction is summed over the threads in thread order, then over
/// the processes by the outer communicator, so the node-shared exchange gives the bits of `mpirun` with one node per
/// process and `size` ranks on each.
public final class ThreadGroup: @unchecked Sendable {
    /// The number of threads (ranks of this process).
    public let size: Int
    /// The communicator between the processes of a hybrid job (nil: this process is the whole job).
    public let outer: Communicator?
    let barrierState: UnsafeMutablePointer<pthread_barrier_t>
    /// Each thread's published buffer (a collective's operand) and requested size (node-shared memory).
    let pointers: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    let requests: UnsafeMutablePointer<Int>
    /// Thread 0's reduction result, grown to the largest collective seen (once, at start-up for the trainer's).
    var scratch: UnsafeMutableRawPointer?
    var scratchBytes = 0
    /// The node-shared memory the last allocation made (handed from thread 0 to the others).
    var shared: ThreadSharedMemory?

    public init(size: Int, outer: Communicator? = nil) {
        precondition(size >= 1, "a thread group needs at least one thread")
        self.size = size
        self.outer = outer
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
                slots[rank].value = body(ThreadCommunicator(group: self, threadRank: rank))
                slots[rank].done.signal()
            }
            thread.stackSize = stackBytes
            thread.start()
        }
        slots[0].value = body(ThreadCommunicator(group: self, threadRank: 0))
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
    /// This thread's index in its group.
    public let threadRank: Int
    public let rank: Int
    public let size: Int

    /// "N thread(s)", or under MPI (hybrid) "P rank(s) × T threads".
    public var ranksDescription: String {
        guard let outer = group.outer else { return "\(size) thread(s)" }
        return "\(outer.size) rank(s) × \(group.size) threads"
    }

    init(group: ThreadGroup, threadRank: Int) {
        self.group = group
        self.threadRank = threadRank
        rank = (group.outer?.rank ?? 0) * group.size + threadRank
        size = (group.outer?.size ?? 1) * group.size
    }

    /// The reduction of every thread's `buffer`, in thread order (then over the processes by the outer
    /// communicator), into every thread's `buffer`.
    func reduce<Element: Numeric & Comparable>(
        _ buffer: UnsafeMutableBufferPointer<Element>, _ operation: ReductionOperation,
        outerReduce: (UnsafeMutableBufferPointer<Element>) -> Void
    ) {
        guard size > 1 else { return }
        group.pointers[threadRank] = buffer.count > 0 ? UnsafeMutableRawPointer(buffer.baseAddress!) : nil
        group.wait()
        let count = buffer.count
        if threadRank == 0 { reduceIntoScratch(count: count, operation, outerReduce: outerReduce) }
        group.wait()
        if count > 0 {
            buffer.baseAddress!.update(from: group.scratch!.assumingMemoryBound(to: Element.self), count: count)
        }
        group.wait()  // the scratch is free again
    }

    /// Thread 0, between barriers: the reduction of the `count` elements every thread published in
    /// `group.pointers`, in thread order, into the scratch, then (hybrid) over the processes.
    func reduceIntoScratch<Element: Numeric & Comparable>(
        count: Int, _ operation: ReductionOperation, outerReduce: (UnsafeMutableBufferPointer<Element>) -> Void
    ) {
        guard count > 0 else { return }
        let result = group.scratch(bytes: count * MemoryLayout<Element>.stride).bindMemory(to: Element.self, capacity: count)
        result.update(from: group.pointers[0]!.assumingMemoryBound(to: Element.self), count: count)
        for other in 1..<group.size {
            let source = group.pointers[other]!.assumingMemoryBound(to: Element.self)
            switch operation {
            case .sum: for i in 0..<count { result[i] += source[i] }
            case .min: for i in 0..<count where source[i] < result[i] { result[i] = source[i] }
            case .max: for i in 0..<count where source[i] > result[i] { result[i] = source[i] }
            }
        }
        if group.outer != nil { outerReduce(UnsafeMutableBufferPointer(start: result, count: count)) }
    }

    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReductionOperation) {
        reduce(buffer, operation) { group.outer!.allReduce($0, operation) }
    }
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReductionOperation) {
        reduce(buffer, operation) { group.outer!.allReduce($0, operation) }
    }
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Int64>, _ operation: ReductionOperation) {
        reduce(buffer, operation) { group.outer!.allReduce($0, operation) }
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) {
        guard size > 1 else { return }
        let rootProcess = root / group.size, rootThread = root % group.size
        let isRoot = rank == root, rootIsHere = (group.outer?.rank ?? 0) == rootProcess
        if isRoot { group.pointers[rootThread] = bytes.baseAddress }
        group.wait()
        if let outer = group.outer {
            // Thread 0 of every process carries the bytes between processes in the scratch.
            if threadRank == 0 && bytes.count > 0 {
                let carried = group.scratch(bytes: bytes.count)
                if rootIsHere { carried.copyMemory(from: group.pointers[rootThread]!, byteCount: bytes.count) }
                outer.broadcast(UnsafeMutableRawBufferPointer(start: carried, count: bytes.count), root: rootProcess)
            }
            group.wait()
            if !isRoot, bytes.count > 0 { bytes.baseAddress!.copyMemory(from: group.scratch!, byteCount: bytes.count) }
        } else if !isRoot, bytes.count > 0 {
            bytes.baseAddress!.copyMemory(from: group.pointers[root]!, byteCount: bytes.count)
        }
        group.wait()
    }

    public func barrier() {
        group.wait()
        if let outer = group.outer {
            if threadRank == 0 { outer.barrier() }
            group.wait()
        }
    }

    /// Each thread sums its own shard over every thread's `source`, in thread order, straight into `shard`
    /// (hybrid: the threads' sum of the whole buffer, summed over the processes, then each thread's shard of it).
    public func reduceScatterSum(
        _ source: UnsafeBufferPointer<Float>, into shard: UnsafeMutableBufferPointer<Float>, shards: ShardLayout
    ) {
        let mine = shards.range(of: rank)
        group.pointers[threadRank] = UnsafeMutableRawPointer(mutating: source.baseAddress)
        group.wait()
        if let outer = group.outer {
            if threadRank == 0 {
                reduceIntoScratch(count: source.count, .sum) { (sum: UnsafeMutableBufferPointer<Float>) in
                    outer.allReduce(sum, .sum)
                }
            }
            group.wait()
            if let out = shard.baseAddress, !mine.isEmpty {
                out.update(from: group.scratch!.assumingMemoryBound(to: Float.self) + mine.lowerBound, count: mine.count)
            }
        } else if let out = shard.baseAddress, !mine.isEmpty {
            for other in 0..<size {
                let input = group.pointers[other]!.assumingMemoryBound(to: Float.self) + mine.lowerBound
                if other == 0 {
                    out.update(from: input, count: mine.count)
                } else {
                    for i in 0..<mine.count { out[i] += input[i] }
                }
            }
        }
        group.wait()  // every source read
    }

    /// Each thread copies every other thread's range of its `buffer` into its own (hybrid: the other ranges
    /// zeroed, then a sum, which adds only zeros to each range).
    public func allGather(_ buffer: UnsafeMutableBufferPointer<Float>, shards: ShardLayout) {
        if group.outer != nil {
            let mine = shards.range(of: rank)
            for i in buffer.indices where !mine.contains(i) { buffer[i] = 0 }
            allReduce(buffer, .sum)
            return
        }
        group.pointers[threadRank] = UnsafeMutableRawPointer(buffer.baseAddress)
        group.wait()
        for other in 0..<size where other != rank {
            let range = shards.range(of: other)
            guard !range.isEmpty else { continue }
            (buffer.baseAddress! + range.lowerBound).update(
                from: group.pointers[other]!.assumingMemoryBound(to: Float.self) + range.lowerBound, count: range.count)
        }
        group.wait()  // every range copied before anyone writes again
    }

    /// Ends the whole process (every thread of the job) at once; hybrid: every process of the job.
    public func abort(code: Int32) -> Never {
        if let outer = group.outer { outer.abort(code: code) }
        exit(code)
    }

    /// One node per process: its threads.
    public func nodeTopology() -> NodeTopology {
        NodeTopology(localRank: threadRank, localSize: group.size, nodeCount: group.outer?.size ?? 1, uniform: true)
    }

    /// One zeroed block in this process holding every thread's segment (64-byte aligned each); the same block on
    /// every thread, freed when the last thread lets it go.
    public func allocateNodeSharedMemory(bytes: Int) throws -> NodeSharedMemory {
        group.requests[threadRank] = bytes
        group.wait()
        if threadRank == 0 {
            let sizes = (0..<group.size).map { group.requests[$0] }
            group.shared = ThreadSharedMemory(group: group, sizes: sizes)
        }
        group.wait()
        let memory = group.shared!
        group.wait()
        if threadRank == 0 { group.shared = nil }
        return ThreadSharedMemoryView(memory: memory, threadRank: threadRank)
    }

    /// The outer communicator's watchdog (thread 0 starts it and reports the step).
    public func startWatchdog(limitSeconds: Double) {
        if threadRank == 0 { group.outer?.startWatchdog(limitSeconds: limitSeconds) }
    }

    public func watch(step: Int) {
        if threadRank == 0 { group.outer?.watch(step: step) }
    }
}
