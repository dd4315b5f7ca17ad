import VAEModel

/// The start-up check of kernels vae-dist chose: every GEMM of a training step of the default model (batch 128,
/// 784–400–20, in the forward NT, backward TN and NN forms), a few odd shapes that reach the kernels' edge code,
/// each with β = 0 and β = 1, through ``gemm`` as training calls it.
///
/// Each product C = op(A)·op(B) + β·C₀ is checked against float64: entry by entry on its first, middle and last
/// rows and columns, and everywhere by Freivalds' method: for random weights r and s, C·r must match
/// op(A)·(op(B)·r) + β·C₀·r, and sᵀ·C must match (sᵀ·op(A))·op(B) + β·sᵀ·C₀. Each within float32's worst-case
/// error bound for a k-term sum (the same sums over |A|, |B| and |C₀|, times (k + 2)·2⁻²³), so correct kernels
/// never fail it. A wrong tile, a skipped edge or a NaN moves these far past the bound; the cost is one step's
/// GEMMs plus O((m + n)·k + mn) per product, a few milliseconds.
public enum GEMMCheck {
    /// The shapes checked.
    public static var shapes: [GEMMCeiling.Shape] {
        GEMMCeiling.shapes(ParameterLayout(TrainingConfiguration().architecture), batch: 128) + [
            .init(transposeA: false, transposeB: false, m: 1, n: 1, k: 1),
            .init(transposeA: false, transposeB: true, m: 37, n: 29, k: 53),
            .init(transposeA: true, transposeB: false, m: 61, n: 45, k: 19),
            .init(transposeA: false, transposeB: false, m: 130, n: 23, k: 401),
            .init(transposeA: true, transposeB: true, m: 17, n: 33, k: 9),
        ]
    }

    /// Runs the check: nil when every product is right, else what went wrong on the first wrong one.
    public static func run() -> String? {
        let shapes = shapes
        let size = shapes.map { max($0.m * $0.k, $0.k * $0.n, $0.m * $0.n) }.max()!
        let a = FlatBuffer(count: size), b = FlatBuffer(count: size), c = FlatBuffer(count: size)
        let initial = FlatBuffer(count: size)
        var stream = RandomStream(seed: 0x6e6d6d, purpose: .prior)
        for i in 0..<size {
            a.pointer[i] = stream.nextUnitFloat() - 0.5
            b.pointer[i] = stream.nextUnitFloat() - 0.5
            initial.pointer[i] = stream.nextUnitFloat() - 0.5
        }
        for shape in shapes {
            for beta: Float in [0, 1] {
                let (m, n, k) = (shape.m, shape.n, shape.k)
                c.pointer.update(from: initial.pointer, count: m * n)
                gemm(
                    transposeA: shape.transposeA, transposeB: shape.transposeB, m: m, n: n, k: k,
                    a: a.pointer, lda: shape.transposeA ? m : k, b: b.pointer, ldb: shape.transposeB ? k : n,
                    beta: beta, c: c.pointer, ldc: n)
                let form = "\(shape.transposeA ? "T" : "N")\(shape.transposeB ? "T" : "N")"
                if let failure = verify(
                    shape, beta: Double(beta), a: a.pointer, b: b.pointer, c0: initial.pointer, c: c.pointer, seed: &stream)
                {
                    return "sgemm \(shape) (\(form), β = \(Int(beta))): \(failure)"
                }
            }
        }
        return nil
    }

    /// Freivalds' check of one product on both sides; nil when it holds.
    static func verify(
        _ shape: GEMMCeiling.Shape, beta: Double, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        c0: UnsafePointer<Float>, c: UnsafePointer<Float>, seed stream: inout RandomStream
    ) -> String? {
        let (m, n, k) = (shape.m, shape.n, shape.k)
        func opA(_ i: Int, _ p: Int) -> Double { Double(shape.transposeA ? a[p * m + i] : a[i * k + p]) }
        func opB(_ p: Int, _ j: Int) -> Double { Double(shape.transposeB ? b[j * k + p] : b[p * n + j]) }
        let tolerance = Double(k + 2) * 0x1p-23
        // Entry by entry on the first, middle and last rows and columns (edge tiles are where kernels differ), each
        // within the bound for its own k-term sum.
        func entry(_ i: Int, _ j: Int) -> String? {
            var expected = beta * Double(c0[i * n + j]), bound = beta * abs(Double(c0[i * n + j]))
            for p in 0..<k {
                expected += opA(i, p) * opB(p, j)
                bound += abs(opA(i, p) * opB(p, j))
            }
            let got = Double(c[i * n + j])
            guard abs(got - expected) <= tolerance * bound + 1e-30, got.isFinite else {
                return "C[\(i), \(j)] = \(got) against \(expected) (bound \(tolerance * bound))"
            }
            return nil
        }
        let rows = Set([0, m / 2, m - 1]), columns = Set([0, n / 2, n - 1])
        for i in rows.sorted() {
            for j in 0..<n { if let failure = entry(i, j) { return failure } }
        }
        for j in columns.sorted() {
            for i in 0..<m where !rows.contains(i) { if let failure = entry(i, j) { return failure } }
        }
        // Right side: C·r against op(A)·(op(B)·r) + β·C₀·r.
        let r = (0..<n).map { _ in 0.5 + Double(stream.nextUnitFloat()) }
        var br = [Double](repeating: 0, count: k), brAbs = [Double](repeating: 0, count: k)
        for p in 0..<k {
            for j in 0..<n {
                br[p] += opB(p, j) * r[j]
                brAbs[p] += abs(opB(p, j)) * r[j]
            }
        }
        for i in 0..<m {
            var expected = 0.0, bound = 0.0, got = 0.0
            for p in 0..<k {
                expected += opA(i, p) * br[p]
                bound += abs(opA(i, p)) * brAbs[p]
            }
            for j in 0..<n {
                expected += beta * Double(c0[i * n + j]) * r[j]
                bound += beta * abs(Double(c0[i * n + j])) * r[j]
                got += Double(c[i * n + j]) * r[j]
            }
            guard abs(got - expected) <= tolerance * bound + 1e-30, got.isFinite else {
                return "row \(i) off: weighted sum \(got) against \(expected) (bound \(tolerance * bound))"
            }
        }
        // Left side: sᵀ·C against (sᵀ·op(A))·op(B) + β·sᵀ·C₀.
        let s = (0..<m).map { _ in 0.5 + Double(stream.nextUnitFloat()) }
        var sa = [Double](repeating: 0, count: k), saAbs = [Double](repeating: 0, count: k)
        for i in 0..<m {
            for p in 0..<k {
                sa[p] += s[i] * opA(i, p)
                saAbs[p] += s[i] * abs(opA(i, p))
            }
        }
        for j in 0..<n {
            var expected = 0.0, bound = 0.0, got = 0.0
            for p in 0..<k {
                expected += sa[p] * opB(p, j)
                bound += saAbs[p] * abs(opB(p, j))
            }
            for i in 0..<m {
                expected += beta * s[i] * Double(c0[i * n + j])
                bound += beta * s[i] * abs(Double(c0[i * n + j]))
                got += s[i] * Double(c[i * n + j])
            }
            guard abs(got - expected) <= tolerance * bound + 1e-30, got.isFinite else {
                return "column \(j) off: weighted sum \(got) against \(expected) (bound \(tolerance * bound))"
            }
        }
        return nil
    }
}
