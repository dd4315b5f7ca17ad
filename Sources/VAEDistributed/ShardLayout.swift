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
