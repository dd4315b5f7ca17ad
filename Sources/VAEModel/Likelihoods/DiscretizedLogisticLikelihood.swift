#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import VAESettings

/// The discretized logistic for 8-bit pixels (Kingma et al. 2016, Salimans et al. 2017): a pixel's value x ∈ [0, 1]
/// (bytes / 255) is scaled to x' = 2x − 1 ∈ [−1, 1], a grid of 256 bins of width 2δ, δ = 1/255; the decoder gives
/// each pixel's location μ, a learned log-scale s per pixel (`x_logscale`, starting at −2) its spread:
///
///     a = (x' + δ − μ)·e^(−s)     b = (x' − δ − μ)·e^(−s)
///     P(x) = σ(a) − σ(b)                  (the edge bins take the tails: σ(a) at x' = −1, 1 − σ(b) at x' = 1)
///     −log P = softplus(−a) + softplus(b) − log(1 − e^(−(a − b)))
///     ∂(−log P)/∂μ = e^(−s)·(1 − σ(a) − σ(b))
///     ∂(−log P)/∂s = a·(1 − σ(a)) − b·σ(b) + (a − b)/(e^(a − b) − 1)
///
/// (the left bin keeps only a's terms, the right only b's), all in log space, stable for any μ and s. The bins'
/// probabilities sum to 1, so its NLL is a true discrete one: bits per dimension = NLL / (D·ln 2), 8.00 for a
/// uniform model. Sums in double per row. Forward writes ∂/∂μ into the model's output gradient (overwrite) and
/// ∂/∂s into the gradient buffer's `x_logscale` (overwrite, summed over the rows), each row's times its weight if given.
public struct DiscretizedLogisticLikelihood: LikelihoodKind {
    public static let name = "discretized_logistic"
    public static let settings: [AnySetting] = []
    public init(settings: SettingValues) {}

    /// Half a bin in the [−1, 1] scale.
    public static let halfBin = 1.0 / 255.0

    public var describe: String { "discretized_logistic (per-pixel log-scale)" }
    public var outputBuffersPerPixel: Int { 2 }
    public var acceptsBinarizedTargets: Bool { false }
    public var pixelParameterName: String? { "x_logscale" }
    public var fixedPixelParameter: Float { 0 }
    /// The log-scale starts at −2: a scale of e⁻² ≈ 0.14 of the [−1, 1] range (about 17 levels), where at 0 (a scale as
    /// wide as the range) Adam's steps of about the learning rate would take hundreds of steps to narrow it.
    public var initialPixelParameter: Float { -2 }
    public var dequantizationNats: Double? { 0 }
    /// The location μ on the [0, 1] scale of the data, clamped.
    public func mean(ofOutput output: Float) -> Float { min(max((output + 1) / 2, 0), 1) }

    /// −log P(x) of one pixel and its derivatives by μ and by s.
    public static func pixel(target x: Double, location mu: Double, logScale s: Double) -> (nll: Double, mu: Double, s: Double) {
        let inverseScale = exp(-s), centred = 2 * x - 1 - mu
        let a = (centred + halfBin) * inverseScale, b = (centred - halfBin) * inverseScale
        let sigmoidA = 1 / (1 + exp(-a)), sigmoidB = 1 / (1 + exp(-b))
        func softplus(_ v: Double) -> Double { v > 0 ? v + log1p(exp(-v)) : log1p(exp(v)) }
        if x < 0.5 / 255 {  // the lowest bin: P = σ(a)
            return (softplus(-a), inverseScale * (1 - sigmoidA), a * (1 - sigmoidA))
        }
        if x > 254.5 / 255 {  // the highest bin: P = 1 − σ(b)
            return (softplus(b), -inverseScale * sigmoidB, -b * sigmoidB)
        }
        let d = a - b
        let nll = softplus(-a) + softplus(b) - log(-expm1(-d))
        return (nll, inverseScale * (1 - sigmoidA - sigmoidB), a * (1 - sigmoidA) - b * sigmoidB + d / expm1(d))
    }

    public func negativeLogLikelihood(
        _ model: VariationalAutoencoder, firstRow: Int, rows: Int, gradients: FlatBuffer?, rowWeights: UnsafePointer<Float>?
    )
        -> Double
    {
        let width = model.layout.architecture.inputSize
        let output = model.output + firstRow * width, targets = model.targets + firstRow * width
        let logScale = model.pixelParameter
        let scaleGradient = gradients.flatMap { buffer in model.layout.pixelParameter.map { buffer.pointer(to: $0) } }
        scaleGradient?.update(repeating: 0, count: width)
        var total = 0.0
        for r in 0..<rows {
            var row = 0.0
            let weight = rowWeights.map { Double($0[r]) } ?? 1
            for i in 0..<width {
                let term = Self.pixel(
                    target: Double(targets[r * width + i]), location: Double(output[r * width + i]), logScale: Double(logScale[i])
                )
                row += term.nll
                if gradients != nil { model.activationGradient[r * width + i] = Float(weight * term.mu) }
                scaleGradient?[i] += Float(weight * term.s)
            }
            model.rowLosses[firstRow + r] = row
            total += row
        }
        return total
    }
}
