import VAEModel

/// Gradient clipping by global norm, on the summed gradient just before Adam: g ← g · min(1, c / ‖g‖₂), with ‖g‖
/// accumulated in double precision in index order. Every rank computes the same ‖g‖ — from the whole summed
/// gradient where each rank holds it, or from each rank's shard and one all-reduce of a double where the sum is
/// sharded — so every rank clips alike, and under the exact exchange the same bits at any rank count.
/// Off (`maxNorm` 0) it does nothing at all. No allocation per step.
public final class GradientClipper {
    /// c; 0: off.
    public let maxNorm: Float
    /// ‖g‖ before clipping, of the last step (0 until a step ran, or when off).
    public private(set) var lastNorm: Double = 0
    private let partial = UnsafeMutableBufferPointer<Double>.allocate(capacity: 1)

    public init(maxNorm: Float) {
        self.maxNorm = maxNorm
        partial[0] = 0
    }

    deinit { partial.deallocate() }

    /// Clips `count` gradients at `gradients`. `shards`: the summed gradient is split into disjoint parts across
    /// the ranks of `communicator`, repeated `copies` times (once per node for the node-shared exchange), so the
    /// squares are all-reduced and divided by `copies`; nil: this rank holds the whole summed gradient.
    public func clip(
        _ gradients: UnsafeMutablePointer<Float>, count: Int, shards communicator: Communicator? = nil, copies: Int = 1
    ) {
        guard maxNorm > 0 else { return }
        var squares = 0.0
        for i in 0..<count { squares += Double(gradients[i]) * Double(gradients[i]) }
        if let communicator, communicator.size > 1 {
            partial[0] = squares
            communicator.allReduce(partial, .sum)
            squares = partial[0] / Double(copies)
        }
        let norm = squares.squareRoot()
        lastNorm = norm
        guard norm > Double(maxNorm) else { return }
        let scale = Float(Double(maxNorm) / norm)
        for i in 0..<count { gradients[i] *= scale }
    }
}
