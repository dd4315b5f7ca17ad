/// 2-D transposed convolution, as `nn.ConvTranspose2d` (square kernel, stride, padding, output_padding): x
/// `[batch, C, H, W]` → y `[batch, O, Ho, Wo]` with Ho = (H − 1)·stride − 2·padding + k + output_padding, weight W
/// `[C, O, k, k]` and bias b `[O]` as PyTorch stores them. It is the adjoint of a ``Conv2d`` from y's shape to x's
/// (the `geometry` of that convolution: `O` channels of Ho × Wo, whose output positions are x's H × W):
///
///     y[n] = b + col2im(Wᵀ · x[n])                    (W viewed as `[C, O·k²]`)
///     dx[n] = W · im2col(dy[n])      dW += Σ_n x[n] · im2col(dy[n])ᵀ      db += Σ_n Σ_(oh, ow) dy[n, o]
///
/// The gradient rule is ``Conv2d``'s: the parameter gradients accumulate when `accumulate`, else are overwritten;
/// the input gradient is overwritten. `columns`: ``ConvGeometry/patchSize`` × ``ConvGeometry/positions`` floats.
public enum ConvTranspose2d {
    @inlinable
    public static func forward(
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, batch: Int, geometry g: ConvGeometry, inputChannels: Int,
        columns: UnsafeMutablePointer<Float>
    ) {
        let inputSize = inputChannels * g.positions, planeSize = g.height * g.width
        for n in 0..<batch {
            gemm(
                transposeA: true, transposeB: false, m: g.patchSize, n: g.positions, k: inputChannels,
                a: weight, lda: g.patchSize, b: input + n * inputSize, ldb: g.positions, beta: 0, c: columns,
                ldc: g.positions)
            let y = output + n * g.inputSize
            for o in 0..<g.channels { (y + o * planeSize).update(repeating: bias[o], count: planeSize) }
            g.col2im(columns, y)
        }
    }

    @inlinable
    public static func backward(
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, batch: Int, geometry g: ConvGeometry, inputChannels: Int,
        accumulate: Bool, columns: UnsafeMutablePointer<Float>
    ) {
        let inputSize = inputChannels * g.positions, planeSize = g.height * g.width
        if !accumulate {
            weightGradient.update(repeating: 0, count: inputChannels * g.patchSize)
            biasGradient.update(repeating: 0, count: g.channels)
        }
        for n in 0..<batch {
            let dy = outputGradient + n * g.inputSize
            for o in 0..<g.channels { biasGradient[o] += simdSum(dy + o * planeSize, count: planeSize) }
            g.im2col(dy, columns)
            gemm(
                transposeA: false, transposeB: true, m: inputChannels, n: g.patchSize, k: g.positions,
                a: input + n * inputSize, lda: g.positions, b: columns, ldb: g.positions, beta: 1, c: weightGradient,
                ldc: g.patchSize)
            if let inputGradient {
                gemm(
                    transposeA: false, transposeB: false, m: inputChannels, n: g.positions, k: g.patchSize,
                    a: weight, lda: g.patchSize, b: columns, ldb: g.positions, beta: 0, c: inputGradient + n * inputSize,
                    ldc: g.positions)
            }
        }
    }
}
