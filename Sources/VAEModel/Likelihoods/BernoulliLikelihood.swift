#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import VAESettings

/// Bernoulli on logits: −log p(x|z) = Σ softplus(ℓ) − x·ℓ (binary cross-entropy on grey levels or binary targets);
/// the mean image is sigmoid(ℓ). No settings of its own.
public struct BernoulliLikelihood: LikelihoodKind {
    public static let name = "bernoulli"
    public static let settings: [AnySetting] = []
    public init(settings: SettingValues) {}

    public var describe: String { "bernoulli" }
    public var outputBuffersPerPixel: Int { 1 }
    public var acceptsBinarizedTargets: Bool { true }
    public var pixelParameterName: String? { nil }
    public var fixedPixelParameter: Float { 0 }
    public func mean(ofOutput output: Float) -> Float { 1 / (1 + expf(-output)) }

    public func negativeLogLikelihood(
        _ model: VariationalAutoencoder, firstRow: Int, rows: Int, gradients: FlatBuffer?, rowWeights: UnsafePointer<Float>?
    )
        -> Double
    {
        let width = model.layout.architecture.inputSize
        // activationGradient is where backward starts; the spare is free until then (per-pixel losses).
        let sum = BernoulliNLL.forward(
            logits: model.output + firstRow * width, targets: model.targets + firstRow * width, rows: rows, width: width,
            logitGradient: model.activationGradient, scratch: model.spareActivationGradient,
            rowSums: model.rowLosses + firstRow)
        if let rowWeights {
            for r in 0..<rows {
                let weight = rowWeights[r], row = model.activationGradient + r * width
                for j in 0..<width { row[j] *= weight }
            }
        }
        return sum
    }
}

extension Likelihood {
    /// The Bernoulli likelihood.
    public static let bernoulli = Likelihood(name: BernoulliLikelihood.name)!
}
