import VAEDistributed
import VAEModel

/// The single-thread sgemm rate on a model's own GEMM shapes: the ceiling a training step could reach.
public struct GEMMCeiling: Sendable {
    /// One GEMM of a training step: m×n×k, run `repeats` times (a convolution's is one per sample).
    public struct Shape: Sendable, CustomStringConvertible {
        public var transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int
        public var repeats = 1
        /// FLOPs of one call.
        public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
        public var description: String { "\(m)×\(n)×\(k)" + (repeats > 1 ? "×\(repeats)" : "") }
    }

    /// The GEMMs of one training step (forward, then backward's dW and dX) at `batch` rows, from the layers' own
    /// shapes: a linear layer's on the batch, a convolution's per sample.
    public static func shapes(_ layout: ParameterLayout, batch: Int) -> [Shape] {
        enum Kind {
            case linear(inputs: Int, outputs: Int), conv(ConvGeometry, outputs: Int), transposed(ConvGeometry, inputs: Int)
        }
        func kind(_ plan: LayerPlan) -> Kind? {
            switch plan.operation {
            case .linear: return .linear(inputs: plan.inputSize, outputs: plan.outputSize)
            case .conv2d(_, let g, let out): return .conv(g, outputs: out)
            case .convTranspose2d(_, let g, let inputs): return .transposed(g, inputs: inputs)
            default: return nil
            }
        }
        let heads = [layout.mean, layout.logVariance].map { Kind.linear(inputs: $0.inputSize, outputs: $0.outputSize) }
        let layers = layout.encoder.compactMap(kind) + heads + layout.decoder.compactMap(kind)
        let firstNeedsNoInputGradient = layout.encoder.first { $0.layer.hasParameters }.map { kind($0) != nil } ?? false
        var forward: [Shape] = [], backward: [Shape] = []
        for (index, layer) in layers.enumerated() {
            let inputGradient = index > 0 || !firstNeedsNoInputGradient
            switch layer {
            case .linear(let inputs, let outputs):
                forward.append(Shape(transposeA: false, transposeB: true, m: batch, n: outputs, k: inputs))
                backward.append(Shape(transposeA: true, transposeB: false, m: outputs, n: inputs, k: batch))
                if inputGradient { backward.append(Shape(transposeA: false, transposeB: false, m: batch, n: inputs, k: outputs)) }
            case .conv(let g, let outputs):
                forward.append(
                    Shape(transposeA: false, transposeB: false, m: outputs, n: g.positions, k: g.patchSize, repeats: batch))
                backward.append(
                    Shape(transposeA: false, transposeB: true, m: outputs, n: g.patchSize, k: g.positions, repeats: batch))
                if inputGradient {
                    backward.append(
                        Shape(transposeA: true, transposeB: false, m: g.patchSize, n: g.positions, k: outputs, repeats: batch))
                }
            case .transposed(let g, let inputs):
                forward.append(
                    Shape(transposeA: true, transposeB: false, m: g.patchSize, n: g.positions, k: inputs, repeats: batch))
                backward.append(
                    Shape(transposeA: false, transposeB: true, m: inputs, n: g.patchSize, k: g.positions, repeats: batch))
                backward.append(
                    Shape(transposeA: false, transposeB: false, m: inputs, n: g.positions, k: g.patchSize, repeats: batch))
            }
        }
        return forward + backward
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
        var stepNanoseconds = 0.0, stepFlops = 0.0
        for s in shapes {
            let start = monotonicNanoseconds()
            for _ in 0..<repetitions { run(s) }
            let elapsed = Double(monotonicNanoseconds() - start) / Double(repetitions)
            // A step runs each shape `repeats` times at the rate one call has.
            stepNanoseconds += elapsed * Double(s.repeats)
            stepFlops += s.flops * Double(s.repeats)
            perShape.append((s, s.flops / elapsed))
        }
        return GEMMCeiling(flopsPerSample: stepFlops / Double(batch), gigaflops: stepFlops / stepNanoseconds, perShape: perShape)
    }
}
