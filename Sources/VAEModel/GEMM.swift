import CBLAS

/// Row-major C = op(A)·op(B) + β·C through `cblas_sgemm` — every matmul in vae-dist goes through here.
///
/// β = 0 is done as a `memset` of C and β = 1: OpenBLAS would first clear C in its own scalar pass (4 % of a
/// training step here), and 0 + x = x, so the result has the same bits.
@inlinable
public func gemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    var beta = beta
    if beta == 0 {
        if ldc == n {
            c.update(repeating: 0, count: m * n)
        } else {
            for row in 0..<m { (c + row * ldc).update(repeating: 0, count: n) }
        }
        beta = 1
    }
    cblas_sgemm(
        CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}
