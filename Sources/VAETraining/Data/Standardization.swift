/// Per-feature standardization of float data (`data.standardize`): x' = (x − mean) / deviation, with the mean and
/// (population) standard deviation of each feature measured once over the training set. The checkpoint stores
/// both (`data.mean`, `data.std`), so `eval` applies the same map and `sample` writes x = x'·deviation + mean.
public struct Standardization: Sendable, Equatable {
    public let mean: [Float]
    /// Standard deviations; a constant feature's is 1 (it is only centred).
    public let deviation: [Float]
    private let inverse: [Float]

    /// From stored values; every deviation must be finite and positive.
    public init(mean: [Float], deviation: [Float]) {
        precondition(mean.count == deviation.count && deviation.allSatisfy { $0 > 0 && $0.isFinite })
        self.mean = mean
        self.deviation = deviation
        inverse = deviation.map { 1 / $0 }
    }

    public static func == (a: Standardization, b: Standardization) -> Bool { a.mean == b.mean && a.deviation == b.deviation }

    /// Measures every feature of `dataset` in one pass (Welford's update in double precision, samples in order,
    /// so every rank measures the same numbers).
    public static func measure(_ dataset: ImageDataset) -> Standardization {
        let width = dataset.pixelsPerImage
        var mean = [Double](repeating: 0, count: width), squares = [Double](repeating: 0, count: width)
        var row = [Float](repeating: 0, count: width)
        for sample in 0..<dataset.count {
            row.withUnsafeMutableBufferPointer { dataset.convert(sample: sample, into: $0.baseAddress!) }
            let n = Double(sample + 1)
            for j in 0..<width {
                let x = Double(row[j]), delta = x - mean[j]
                mean[j] += delta / n
                squares[j] += delta * (x - mean[j])
            }
        }
        let count = Double(max(dataset.count, 1))
        let deviation = squares.map { s -> Float in
            let d = Float((s / count).squareRoot())
            return d > 0 && d.isFinite ? d : 1
        }
        return Standardization(mean: mean.map { Float($0) }, deviation: deviation)
    }

    /// Standardizes one sample in place. No allocation.
    @inline(__always)
    public func apply(to row: UnsafeMutablePointer<Float>) {
        mean.withUnsafeBufferPointer { m in
            inverse.withUnsafeBufferPointer { s in
                for j in 0..<m.count { row[j] = (row[j] - m[j]) * s[j] }
            }
        }
    }

    /// Maps a standardized sample back to the data's units.
    public func restore(_ row: [Float]) -> [Float] { (0..<row.count).map { row[$0] * deviation[$0] + mean[$0] } }
}
