#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import VAESettings

// The likelihood room: each p(x|z) is one type in one file of this folder (its NLL and gradient, its settings,
// its mean image, its name), listed once in ``Likelihood/kinds``. The configuration, the trajectory hash, the
// flags and the docs' key table take its name and settings from there.

/// One kind of decoder likelihood p(x|z), implemented in a file of its own and registered in ``Likelihood/kinds``.
public protocol LikelihoodKind: RoomKind {

    /// For logs: `bernoulli`, `gaussian (learned variance)`.
    var describe: String { get }
    /// Buffers the size of the decoder's output that the memory estimate counts per pixel.
    var outputBuffersPerPixel: Int { get }
    /// Whether it models binary targets as well as grey levels (the binarizations make sense only then).
    var acceptsBinarizedTargets: Bool { get }
    /// The name of its learned per-pixel parameter tensor (`[inputSize]`, after the decoder in the layout: the
    /// Gaussian's `x_logvar`), or nil when it has none.
    var pixelParameterName: String? { get }
    /// The per-pixel parameter's value when it is fixed, not learned (0 where there is none).
    var fixedPixelParameter: Float { get }
    /// Its per-pixel parameter's starting value when learned.
    var initialPixelParameter: Float { get }
    /// Nats per dimension that turn its NLL of 8-bit pixels (scaled to [0, 1]) into a discrete one: 0 for a
    /// likelihood of the pixels' bins, ln 256 for a density under uniform dequantization (the bins of width 1/256);
    /// nil where bits per dimension mean nothing (the Bernoulli on grey levels).
    var dequantizationNats: Double? { get }
    /// The mean of p(x|z) for one decoder output.
    func mean(ofOutput output: Float) -> Float
    /// Σ −log p(x|z) over `rows` rows of `model`'s decoder output from `firstRow`, against the same rows of its
    /// ``VariationalAutoencoder/targets``, each row's own sum written into ``VariationalAutoencoder/rowLosses``. With
    /// `gradients` (training, rows from 0) the same pass writes ∂/∂output into the model's output gradient and any
    /// parameter gradient of its own into `gradients` (overwrite), row r's share scaled by `rowWeights[r]` when given.
    func negativeLogLikelihood(
        _ model: VariationalAutoencoder, firstRow: Int, rows: Int, gradients: FlatBuffer?, rowWeights: UnsafePointer<Float>?
    ) -> Double
}

extension LikelihoodKind {
    public var initialPixelParameter: Float { 0 }
    public var dequantizationNats: Double? { nil }
}

/// The decoder's likelihood p(x|z): one of the registered ``LikelihoodKind``s (its `name` is the
/// `model.likelihood` spelling, its settings keys under `model.`) with its settings' values.
public struct Likelihood: RoomChoice {
    /// Every likelihood, one line each: the registry `model.likelihood` reads.
    public static let kinds: [any LikelihoodKind.Type] = [
        BernoulliLikelihood.self,
        GaussianLikelihood.self,
        DiscretizedLogisticLikelihood.self,
    ]
    public static var registry: [any RoomKind.Type] { kinds }

    public let kind: any LikelihoodKind
    public let settingValues: SettingValues
    public var chosenKind: any RoomKind { kind }
    public init?(built kind: any RoomKind, settingValues: SettingValues) {
        guard let kind = kind as? any LikelihoodKind else { return nil }
        self.kind = kind
        self.settingValues = settingValues
    }

    public var describe: String { kind.describe }
    public var outputBuffersPerPixel: Int { kind.outputBuffersPerPixel }
    public var acceptsBinarizedTargets: Bool { kind.acceptsBinarizedTargets }
    /// Whether it learns a per-pixel parameter tensor (``LikelihoodKind/pixelParameterName``).
    public var learnsPixelParameter: Bool { kind.pixelParameterName != nil }
    public var pixelParameterName: String? { kind.pixelParameterName }

    /// Bits per dimension of a per-sample NLL of 8-bit pixels, `nats`, over `dimensions` values:
    /// (NLL + D·``LikelihoodKind/dequantizationNats``) / (D·ln 2); nil where the likelihood gives none.
    public func bitsPerDimension(nats: Double, dimensions: Int) -> Double? {
        kind.dequantizationNats.map { (nats + Double(dimensions) * $0) / (Double(dimensions) * log(2.0)) }
    }
    var initialPixelParameter: Float { kind.initialPixelParameter }
    var fixedPixelParameter: Float { kind.fixedPixelParameter }
    public func mean(ofOutput output: Float) -> Float { kind.mean(ofOutput: output) }
    func negativeLogLikelihood(
        _ model: VariationalAutoencoder, firstRow: Int, rows: Int, gradients: FlatBuffer?, rowWeights: UnsafePointer<Float>?
    ) -> Double {
        kind.negativeLogLikelihood(model, firstRow: firstRow, rows: rows, gradients: gradients, rowWeights: rowWeights)
    }

    /// Its keys in the trajectory JSON (`model.likelihood` and its own settings), as (key, JSON value).
    public var trajectoryFields: [(String, String)] { nameAndSettings(field: "likelihood") }
}
