/// How the node-shared exchange's cross-node hop travels (`training.cross_node_compression`): full float32 sums, or
/// bfloat16 with error feedback (half the bytes on the link between hosts). Within a node nothing changes.
public enum CrossNodeCompression: String, CaseIterable, Sendable {
    /// float32 all-reduce (the default).
    case none
    /// bfloat16 with error feedback: each node sends bf16(g + e) and keeps e ← (g + e) − bf16(g + e) for its next
    /// step, so what rounding drops is sent later rather than lost (Seide et al. 2014; Karimireddy et al. 2019's
    /// EF-SGD; the compression hooks of Horovod and PyTorch DDP). Not fp16: a summed loss's gradients leave its range.
    case bf16
}

/// The cross-node sum of one shard under ``CrossNodeCompression/bf16``: compress with error feedback, an all-gather
/// of every node's bf16 shard, and a float sum in node order — the same bits on every node, so the replicas stay
/// identical. Buffers are made once; a step allocates nothing.
///
/// The residual is this node's state and is not in checkpoints: a resume restarts it at zero (the run continues,
/// but not bit for bit as it would have).
public final class CompressedCrossNodeSum {
    public let count: Int
    public let nodeCount: Int
    /// e: what rounding left out of this node's last messages.
    public let residual: UnsafeMutablePointer<Float>
    let outgoing: UnsafeMutablePointer<UInt16>
    let incoming: UnsafeMutablePointer<UInt16>

    public init(count: Int, nodeCount: Int) {
        self.count = count
        self.nodeCount = nodeCount
        residual = .allocate(capacity: max(count, 1))
        residual.initialize(repeating: 0, count: max(count, 1))
        outgoing = .allocate(capacity: max(count, 1))
        outgoing.initialize(repeating: 0, count: max(count, 1))
        incoming = .allocate(capacity: max(count * nodeCount, 1))
        incoming.initialize(repeating: 0, count: max(count * nodeCount, 1))
    }

    deinit {
        residual.deallocate()
        outgoing.deallocate()
        incoming.deallocate()
    }

    /// bfloat16 of `x`, rounded to nearest, ties to even (NaN stays NaN).
    @inline(__always) public static func bfloat(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x40 }
        return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }

    /// The float a bfloat16 stands for (exact).
    @inline(__always) public static func float(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

    /// Replaces `shard` (this node's sum over its ranks) with the sum over nodes of their bf16 messages.
    public func sum(_ shard: UnsafeMutablePointer<Float>, memory: NodeSharedMemory) {
        start(shard, memory: memory, slot: nil)
        finish(shard, memory: memory, slot: nil)
    }

    /// The first half of ``sum(_:memory:)``: compresses `shard` and starts the all-gather (in request `slot`,
    /// non-blocking; nil: blocking). `shard` is free again at once; ``finish(_:memory:slot:)`` writes the sum.
    public func start(_ shard: UnsafeMutablePointer<Float>, memory: NodeSharedMemory, slot: Int?) {
        for i in 0..<count {
            let value = shard[i] + residual[i]
            let message = Self.bfloat(value)
            outgoing[i] = message
            residual[i] = value - Self.float(message)
        }
        let send = UnsafeRawBufferPointer(start: outgoing, count: count * 2)
        let receive = UnsafeMutableRawBufferPointer(start: incoming, count: count * nodeCount * 2)
        if let slot {
            memory.startAllGatherAcrossNodes(send, into: receive, slot: slot)
        } else {
            memory.allGatherAcrossNodes(send, into: receive)
        }
    }

    /// The second half: waits for the all-gather (when started in `slot`) and writes the sum over nodes, in node
    /// order, into `shard`.
    public func finish(_ shard: UnsafeMutablePointer<Float>, memory: NodeSharedMemory, slot: Int?) {
        if let slot { memory.finishAcrossNodes(slot: slot) }
        for i in 0..<count { shard[i] = Self.float(incoming[i]) }
        for node in 1..<max(nodeCount, 1) {
            let part = incoming + node * count
            for i in 0..<count { shard[i] += Self.float(part[i]) }
        }
    }
}
