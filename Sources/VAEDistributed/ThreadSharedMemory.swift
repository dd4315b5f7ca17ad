#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation

/// Node-shared memory of a thread group: one heap block, a barrier for synchronizing, one node.
final class ThreadSharedMemory {
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
}

/// One thread's handle on its group's ``ThreadSharedMemory``. Hybrid, the hop across nodes (processes) is
/// funnelled through thread 0: every thread publishes its buffer, thread 0 makes the outer communicator's call for
/// each thread's in thread order (the same calls on every process), then every thread goes on.
final class ThreadSharedMemoryView: NodeSharedMemory {
    let memory: ThreadSharedMemory
    let threadRank: Int
    var group: ThreadGroup { memory.group }

    init(memory: ThreadSharedMemory, threadRank: Int) {
        self.memory = memory
        self.threadRank = threadRank
    }

    func segment(of localRank: Int) -> UnsafeMutableRawPointer { memory.base + memory.offsets[localRank] }
    func synchronizeNode() { group.wait() }

    func allReduceAcrossNodes(_ buffer: UnsafeMutableBufferPointer<Float>) {
        guard let outer = group.outer else { return }
        group.pointers[threadRank] = buffer.count > 0 ? UnsafeMutableRawPointer(buffer.baseAddress!) : nil
        group.requests[threadRank] = buffer.count
        group.wait()
        if threadRank == 0 {
            for thread in 0..<group.size where group.requests[thread] > 0 {
                outer.allReduce(
                    UnsafeMutableBufferPointer(
                        start: group.pointers[thread]!.assumingMemoryBound(to: Float.self), count: group.requests[thread]),
                    .sum)
            }
        }
        group.wait()
    }

    /// Hybrid: every process's bytes reach every process by one broadcast per process (in process order).
    func allGatherAcrossNodes(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer) {
        guard let outer = group.outer else {
            if let source = send.baseAddress, send.count > 0 {
                receive.baseAddress!.copyMemory(from: source, byteCount: send.count)
            }
            return
        }
        group.pointers[threadRank] = receive.baseAddress
        group.requests[threadRank] = send.count
        let part = send.count
        if part > 0 { (receive.baseAddress! + outer.rank * part).copyMemory(from: send.baseAddress!, byteCount: part) }
        group.wait()
        if threadRank == 0 {
            for thread in 0..<group.size where group.requests[thread] > 0 {
                let bytes = group.requests[thread]
                for process in 0..<outer.size {
                    outer.broadcast(
                        UnsafeMutableRawBufferPointer(start: group.pointers[thread]! + process * bytes, count: bytes),
                        root: process)
                }
            }
        }
        group.wait()
    }
}
