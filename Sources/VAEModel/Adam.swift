import CKernels

/// Adam (Kingma & Ba 2014) with bias correction, computed as PyTorch's `torch.optim.Adam` does:
///
///     m ← β₁ m + (1 − β₁) g
///     v ← β₂ v + (1 − β₂) g²
///     θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
///
/// The moments are flat buffers with the parameters' layout, so one loop updates the whole model.
public final class Adam {
    public struct Hyperparameters: Equatable, Sendable {
        public var learningRate: Float
        public var beta1: Float
        public var beta2: Float
        public var epsilon: Float
        public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8) {
            self.learningRate = learningRate
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
        }
    }

    public var hyperparameters: Hyperparameters
    /// First moment m.
    public let firstMoment: FlatBuffer
    /// Second moment v.
    public let secondMoment: FlatBuffer
    /// Steps taken, t (the bias corrections depend on it).
    public var step: Int = 0

    /// Adam over `parameterCount` parameters, its moments zero. The moments are allocated here unless given
    /// (node-shared memory, which the caller zeroes); given buffers must have `parameterCount` elements.
    public init(
        parameterCount: Int, hyperparameters: Hyperparameters = .init(),
        firstMoment: FlatBuffer? = nil, secondMoment: FlatBuffer? = nil
    ) {
        precondition(
            (firstMoment?.count ?? parameterCount) == parameterCount && (secondMoment?.count ?? parameterCount) == parameterCount,
            "Adam moment buffer has the wrong size")
        self.hyperparameters = hyperparameters
        self.firstMoment = firstMoment ?? FlatBuffer(count: parameterCount)
        self.secondMoment = secondMoment ?? FlatBuffer(count: parameterCount)
    }

    /// One update of `parameters` from `gradients` (all buffers the same count).
    public func update(parameters: FlatBuffer, gradients: FlatBuffer) {
        precondition(
            parameters.count == firstMoment.count && gradients.count == firstMoment.count,
            "Adam buffers differ in size")
        step += 1
        apply(parameters: parameters, range: 0..<parameters.count, gradients: gradients.pointer)
    }

    /// One update of only `range` of the parameters and moments (a ZeRO-1 shard), from `shardGradients`, which
    /// holds the gradient of `range` starting at its first element. The rest of the moments is left as it is.
    public func update(parameters: FlatBuffer, range: Range<Int>, shardGradients: UnsafePointer<Float>) {
        precondition(range.upperBound <= firstMoment.count, "shard outside the parameters")
        step += 1
        apply(parameters: parameters, range: range, gradients: shardGradients)
    }

    private func apply(parameters: FlatBuffer, range: Range<Int>, gradients: UnsafePointer<Float>) {
        let h = hyperparameters
        let t = Double(step)
        let biasCorrection1 = 1 - pow(Double(h.beta1), t)
        let biasCorrection2 = 1 - pow(Double(h.beta2), t)
        let stepSize = Float(Double(h.learningRate) / biasCorrection1)
        let inverseRootCorrection2 = Float(1 / biasCorrection2.squareRoot())
        let b1 = h.beta1, b2 = h.beta2, eps = h.epsilon
        let oneMinusB1 = 1 - b1, oneMinusB2 = 1 - b2
        let start = range.lowerBound
        let p = parameters.pointer + start, g = gradients, m = firstMoment.pointer + start, v = secondMoment.pointer + start
        if vae_adam_avx2(p, g, m, v, range.count, b1, b2, oneMinusB1, oneMinusB2, stepSize, inverseRootCorrection2, eps) != 0 {
            return  // CKernels' eight-lane copy of the loop below (the same operations, so the same bits)
        }
        Adam.apply(
            parameters: p, gradients: g, firstMoment: m, secondMoment: v, count: range.count, beta1: b1, beta2: b2,
            stepSize: stepSize, inverseRootCorrection2: inverseRootCorrection2, epsilon: eps)
    }

    /// The update loop over `count` elements (portable; it vectorizes).
    public static func apply(
        parameters p: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>,
        firstMoment m: UnsafeMutablePointer<Float>, secondMoment v: UnsafeMutablePointer<Float>, count: Int,
        beta1 b1: Float, beta2 b2: Float, stepSize: Float, inverseRootCorrection2: Float, epsilon eps: Float
    ) {
        let oneMinusB1 = 1 - b1, oneMinusB2 = 1 - b2
        for i in 0..<count {
            let gi = g[i]
            let mi = b1 * m[i] + oneMinusB1 * gi
            let vi = b2 * v[i] + oneMinusB2 * gi * gi
            m[i] = mi
            v[i] = vi
            p[i] -= stepSize * mi / (vi.squareRoot() * inverseRootCorrection2 + eps)
        }
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
