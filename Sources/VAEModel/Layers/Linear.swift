/// Fully connected layer, as `nn.Linear`: x `[batch, in]` → y `[batch, out]`, y = x·Wᵀ + b with W `[out, in]`.
///
///     dW = dyᵀ·x      db = Σ_batch dy      dx = dy·W
///
/// Gradient rule: overwrites its weight, bias and input gradients (the MLP's bits depend on it).
public enum Linear {
    /// y[b, o] = b[o] + Σᵢ x[b, i]·W[o, i] — the bias is copied into y first, then one `cblas_sgemm`
    /// with β = 1 adds x·Wᵀ, so bias-add costs no extra pass.
    @inlinable
    public static func forward(
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, batch: Int, inputSize: Int, outputSize: Int
    ) {
        for row in 0..<batch { (output + row * outputSize).update(from: bias, count: outputSize) }
        gemm(
            transposeA: false, transposeB: true, m: batch, n: outputSize, k: inputSize,
            a: input, lda: inputSize, b: weight, ldb: inputSize, beta: 1, c: output, ldc: outputSize)
    }

    /// dW = dyᵀ·x, db = Σ_b dy[b, ·], dx = dy·W (skipped when `inputGradient` is nil, e.g. for the first layer).
    @inlinable
    public static func backward(
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>,
        weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, inputSize: Int, outputSize: Int
    ) {
        gemm(
            transposeA: true, transposeB: false, m: outputSize, n: inputSize, k: batch,
            a: outputGradient, lda: outputSize, b: input, ldb: inputSize, beta: 0, c: weightGradient, ldc: inputSize)
        biasGradient.update(from: outputGradient, count: outputSize)
        for row in 1..<max(batch, 1) {
            let dy = outputGradient + row * outputSize
            for o in 0..<outputSize {
                let g = dy[o]
                biasGradient[o] += g
            }
        }
        if let inputGradient {
            gemm(
                transposeA: false, transposeB: false, m: batch, n: inputSize, k: outputSize,
                a: outputGradient, lda: outputSize, b: weight, ldb: inputSize, beta: 0, c: inputGradient, ldc: inputSize)
        }
    }
}
