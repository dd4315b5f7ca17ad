#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation
import VAESettings

/// How the decoder's Gaussian likelihood gets its variance.
public enum GaussianVariance: Equatable, Sendable {
    /// One fixed variance σ² for every pixel.
    case fixed(Float)
    /// One learned log-variance per pixel, a parameter tensor named `x_logvar`.
    case learned
}

/// Gaussian with mean = decoder output: −log p(x|z) = ½ Σ [log 2π + log σ² + (x − μ)²/σ²], σ² fixed or learned per
/// pixel (`model.gaussian_variance`: `"learned"` or a positive number). On 8-bit pixels its bits per dimension follow
/// the uniform-dequantization convention: (NLL + D·ln 256) / (D·ln 2), the data in [0, 1].
public struct GaussianLikelihood: LikelihoodKind {
    public static let name = "gaussian"

    /// `model.gaussian_variance`: "learned" (a per-pixel log-variance tensor, `x_logvar`) or a fixed σ² > 0.
    public static let variance = Setting<GaussianVariance>(
        "model.gaussian_variance", default: .learned,
        help: "the Gaussian's variance: \"learned\" (one log-variance per pixel, x_logvar) or a fixed σ² > 0",
        read: { v in
            if let s = v.value as? String, s == "learned" { return .learned }
            guard let x = v.value as? NSNumber, !isJSONBool(v.value), x.doubleValue > 0, x.doubleValue.isFinite else {
                throw v.error("must be \"learned\" or a positive number (a fixed variance)")
            }
            return .fixed(try v.float(above: 0))
        },
        json: { variance in
            if case .fixed(let x) = variance { return "\(x)" }
            return "\"learned\""
        })
    public static let settings = [variance.erased]

    public let variance: GaussianVariance
    public init(settings: SettingValues) { variance = settings[GaussianLikelihood.variance] }

    public var describe: String {
        if case .fixed(let v) = variance { return "gaussian (variance \(v))" }
        return "gaussian (learned variance)"
    }
    public var outputBuffersPerPixel: Int { 2 }
    public var acceptsBinarizedTargets: Bool { false }
    public var pixelParameterName: String? { variance == .learned ? "x_logvar" : nil }
    public var fixedPixelParameter: Float {
        if case .fixed(let v) = variance { return logf(v) }
        return 0
    }
    public func mean(ofOutput output: Float) -> Float { output }
    /// Uniform dequantization: a density on [0, 1] over bins of width 1/256 (the convention image papers use).
    public var dequantizationNats: Double? { log(256.0) }

    public func negativeLogLikelihood(
        _ model: VariationalAutoencoder, firstRow: Int, rows: Int, gradients: FlatBuffer?, rowWeights: UnsafePointer<Float>?
    )
        -> Double
    {
        let width = model.layout.architecture.inputSize
        return GaussianNLL.forward(
            means: model.output + firstRow * width, targets: model.targets + firstRow * width,
            logVariance: model.pixelParameter, rows: rows, width: width,
            meanGradient: gradients == nil ? nil : model.activationGradient,
            logVarianceGradient: gradients.flatMap { buffer in model.layout.pixelParameter.map { buffer.pointer(to: $0) } },
            rowSums: model.rowLosses + firstRow, rowWeights: rowWeights)
    }
}

extension Likelihood {
    /// The Gaussian likelihood with this variance.
    public static func gaussian(_ variance: GaussianVariance) -> Likelihood {
        var values = SettingValues()
        values[GaussianLikelihood.variance] = variance
        return Likelihood(name: GaussianLikelihood.name, settings: values)!
    }
}
