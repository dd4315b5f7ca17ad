/// 2-D convolution, as `nn.Conv2d` (square kernel, stride, zero padding): x `[batch, C, H, W]` → y
/// `[batch, O, Ho, Wo]`, weight W `[O, C, k, k]` and bias b `[O]` as PyTorch stores them.
///
///     y[n, o] = b[o] + W[o, (c, i, j)] · cols_n[(c, i, j), (oh, ow)]        cols_n = im2col(x[n])
///     dW += Σ_n dy[n] · cols_nᵀ      db += Σ_n Σ_(oh, ow) dy[n, o]      dx[n] = col2im(Wᵀ · dy[n])
///
/// One `cblas_sgemm` per sample each way (W viewed as `[O, C·k²]`). The gradient rule: the parameter gradients
/// *accumulate* when `accumulate` (gemm's β = 1), else they are overwritten; the input gradient is overwritten.
/// `columns` is scratch of ``ConvGeometry/patchSize`` × ``ConvGeometry/positions`` floats (no allocation).
public enum Conv2d {
    @inlinable
    public static func forward(
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, batch: Int, geometry g: ConvGeometry, outputChannels: Int,
        columns: UnsafeMutablePointer<Float>
    ) {
        let outputSize = outputChannels * g.positions
        for n in 0..<batch {
            let y = output + n * outputSize
            for o in 0..<outputChannels { (y + o * g.positions).update(repeating: bias[o], count: g.positions) }
            g.im2col(input + n * g.inputSize, columns)
            gemm(
                transposeA: false, transposeB: false, m: outputChannels, n: g.positions, k: g.patchSize,
                a: weight, lda: g.patchSize, b: columns, ldb: g.positions, beta: 1, c: y, ldc: g.positions)
        }
    }

    @inlinable
    public static func backward(
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, geometry g: ConvGeometry, outputChannels: Int,
        accumulate: Bool, columns: UnsafeMutablePointer<Float>
    ) {
        let outputSize = outputChannels * g.positions
        if !accumulate {
            weightGradient.update(repeating: 0, count: outputChannels * g.patchSize)
            biasGradient.update(repeating: 0, count: outputChannels)
        }
        for n in 0..<batch {
            let dy = outputGradient + n * outputSize
            for o in 0..<outputChannels { biasGradient[o] += simdSum(dy + o * g.positions, count: g.positions) }
            g.im2col(input + n * g.inputSize, columns)
            gemm(
                transposeA: false, transposeB: true, m: outputChannels, n: g.patchSize, k: g.positions,
                a: dy, lda: g.positions, b: columns, ldb: g.positions, beta: 1, c: weightGradient, ldc: g.patchSize)
            if let inputGradient {
                gemm(
                    transposeA: true, transposeB: false, m: g.patchSize, n: g.positions, k: outputChannels,
                    a: weight, lda: g.patchSize, b: dy, ldb: g.positions, beta: 0, c: columns, ldc: g.positions)
                let dx = inputGradient + n * g.inputSize
                dx.update(repeating: 0, count: g.inputSize)
                g.col2im(columns, dx)
            }
        }
    }
}
