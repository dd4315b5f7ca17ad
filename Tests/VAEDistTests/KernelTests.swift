import CKernels
import Testing
import VAEModel

/// CKernels' AVX2 loops against the Swift loops they copy (on a CPU without AVX2 they decline, and that is checked).
@Suite struct KernelTests {
    static func randomFloats(_ count: Int, seed: UInt64, scale: Float, offset: Float = 0) -> [Float] {
        var stream = RandomStream(seed: seed, purpose: .syntheticData)
        return (0..<count).map { _ in offset + scale * (2 * stream.nextUnitFloat() - 1) }
    }

    /// Adam's eight-lane loop does the Swift loop's operations in its order: the same bits, tail included.
    @Test func adamKernelGivesTheSwiftLoopsBits() {
        let count = 1003
        let gradients = Self.randomFloats(count, seed: 1, scale: 3)
        var (p1, m1, v1) = (
            Self.randomFloats(count, seed: 2, scale: 1), Self.randomFloats(count, seed: 3, scale: 0.1),
            Self.randomFloats(count, seed: 4, scale: 0.01, offset: 0.01)
        )
        var (p2, m2, v2) = (p1, m1, v1)
        let (b1, b2, step, correction, eps): (Float, Float, Float, Float, Float) = (0.9, 0.999, 1.3e-3, 7.5, 1e-8)
        let ran = vae_adam_avx2(&p1, gradients, &m1, &v1, count, b1, b2, 1 - b1, 1 - b2, step, correction, eps)
        #expect(ran == vae_kernels_avx2())
        guard ran == 1 else { return }
        Adam.apply(
            parameters: &p2, gradients: gradients, firstMoment: &m2, secondMoment: &v2, count: count, beta1: b1, beta2: b2,
            stepSize: step, inverseRootCorrection2: correction, epsilon: eps)
        #expect(p1 == p2 && m1 == m2 && v1 == v2)
    }

    /// The Bernoulli loop's eight-lane copy: the same formula through glibc's AVX2 expf/logf, which round a few
    /// values one unit differently from the SSE ones: every loss and gradient within 4 units in the last place of
    /// its largest term (|ℓ| or 1 for the loss, 1 for sigmoid(ℓ) − x, which cancels).
    @Test func bernoulliKernelMatchesTheSwiftLoop() {
        let count = 784 * 3 + 5
        var logits = Self.randomFloats(count, seed: 5, scale: 30)
        logits[0] = 0; logits[1] = -0.0; logits[2] = 88; logits[3] = -88; logits[4] = 1e-30
        let targets = Self.randomFloats(count, seed: 6, scale: 0.5, offset: 0.5)
        var (gradient1, loss1) = ([Float](repeating: .nan, count: count), [Float](repeating: .nan, count: count))
        var (gradient2, loss2) = (gradient1, loss1)
        let ran = vae_bernoulli_nll_avx2(logits, targets, count, &gradient1, &loss1)
        #expect(ran == vae_kernels_avx2())
        guard ran == 1 else { return }
        BernoulliNLL.perPixel(logits: logits, targets: targets, count: count, logitGradient: &gradient2, loss: &loss2)
        func close(_ a: Float, _ b: Float, scale: Float) -> Bool { abs(a - b) <= 4 * max(abs(a), abs(b), scale).ulp }
        for j in 0..<count {
            let same = close(loss1[j], loss2[j], scale: max(abs(logits[j]), 1)) && close(gradient1[j], gradient2[j], scale: 1)
            #expect(
                same,
                "pixel \(j): logit \(logits[j]) target \(targets[j]): loss \(loss1[j]) vs \(loss2[j]), gradient \(gradient1[j]) vs \(gradient2[j])"
            )
            if !same { return }
        }
    }
}
