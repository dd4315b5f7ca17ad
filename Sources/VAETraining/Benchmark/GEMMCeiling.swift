import VAEDistributed
import VAEModel

/// The single-thread sgemm rate on a model's own GEMM shapes: the ceiling a training step could reach.
public struct GEMMCeiling: Sendable {
    /// One GEMM of a training step: m×n×k.
    public struct Shape: Sendable, CustomStringConvertible {
        public var transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int
        public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
        public var description: String { "\(m)×\(n)×\(k)" }
    }

    /// The GEMMs of one training step (forward, then backward's dW and dX) at `batch` rows.
    public static func shapes(_ layout: ParameterLayout, batch: Int) -> [Shape] {
        var shapes: [Shape] = []
        let layers = layout.linearLayers
        for layer in layers {
            shapes.append(Shape(transposeA: false, transposeB: true, m: batch, n: layer.outputSize, k: layer.inputSize))
        }
        for (index, layer) in layers.enumerated() {
            shapes.append(Shape(transposeA: true, transposeB: false, m: layer.outputSize, n: layer.inputSize, k: batch))
            if index > 0 {
                shapes.append(Shape(transposeA: false, transposeB: false, m: batch, n: layer.inputSize, k: layer.outputSize))
            }
        }
        return shapes
    }

    /// GEMM FLOPs per training sample.
    public let flopsPerSample: Double
    /// Measured rate over one step's GEMMs, in GFLOP/s.
    public let gigaflops: Double
    /// Per-shape rates (GFLOP/s), in `shapes` order.
    public let perShape: [(shape: Shape, gigaflops: Double)]
    /// flopsPerSample at `gigaflops`: samples/s if a step were GEMMs only.
    public var samplesPerSecond: Double { gigaflops * 1e9 / flopsPerSample }

    /// Runs every GEMM of a step `repetitions` times (after a warm-up) on the current BLAS threads.
    public static func measure(_ layout: ParameterLayout, batch: Int, repetitions: Int = 30) -> GEMMCeiling {
        let shapes = shapes(layout, batch: batch)
        let size = shapes.map { max($0.m * $0.k, $0.k * $0.n, $0.m * $0.n) }.max()!
        let a = FlatBuffer(count: size), b = FlatBuffer(count: size), c = FlatBuffer(count: size)
        var stream = RandomStream(seed: 0, purpose: .prior)
        for i in 0..<size { a.pointer[i] = stream.nextUnitFloat() - 0.5; b.pointer[i] = stream.nextUnitFloat() - 0.5 }
        func run(_ s: Shape) {
            gemm(
                transposeA: s.transposeA, transposeB: s.transposeB, m: s.m, n: s.n, k: s.k,
                a: a.pointer, lda: s.transposeA ? s.m : s.k, b: b.pointer, ldb: s.transposeB ? s.k : s.n,
                beta: 0, c: c.pointer, ldc: s.n)
        }
        for s in shapes { run(s) }
        var perShape: [(Shape, Double)] = []
        var total: UInt64 = 0, flops = 0.0
        for s in shapes {
            let start = monotonicNanoseconds()
            for _ in 0..<repetitions { run(s) }
            let elapsed = monotonicNanoseconds() - start
            total += elapsed
            flops += s.flops * Double(repetitions)
            perShape.append((s, s.flops * Double(repetitions) / Double(elapsed)))
        }
        return GEMMCeiling(
            flopsPerSample: shapes.reduce(0) { $0 + $1.flops } / Double(batch),
            gigaflops: flops / Double(total), perShape: perShape)
    }
}
