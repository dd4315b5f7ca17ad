import VAESettings

// The prior room: each p(z) is one type in one file of this folder (its log-density and gradients, its tensors, its
// sampling, its settings, its name), listed once in ``Prior/kinds``. The configuration, the trajectory hash, the flags
// and the docs' key table take its name and settings from there.

/// One kind of prior p(z), implemented in a file of its own and registered in ``Prior/kinds``.
///
/// A prior may own model tensors (placed after the encoder's heads, before the decoder: exchanged, checkpointed and
/// exported with the rest) and may need rows of its own in the encoder's pass (the VampPrior's pseudo-inputs, encoded
/// after the batch's rows so their μ and log σ² sit in rows `batch..<batch + encoderRows` of the heads).
public protocol PriorKind: RoomKind {

    /// For logs: `standard_normal`, `vamp (500 pseudo-inputs)`.
    var describe: String { get }
    /// Its tensors (name, shape) for a model whose samples have shape `inputShape`.
    func tensorShapes(inputShape: [Int]) -> [(name: String, shape: [Int])]
    /// The rows it adds to every encoder pass.
    var encoderRows: Int { get }
    /// Fills its tensors at initialization (`tensors` in the order of ``tensorShapes(inputShape:)``).
    func initialize(_ parameters: FlatBuffer, tensors: [TensorView], seed: UInt64)
    /// Writes its encoder rows into `rows` of the model's input (after the batch) before an encoder pass.
    func fillEncoderRows(_ model: VariationalAutoencoder, at rows: UnsafeMutablePointer<Float>)

    /// Σ KL(q(z|x) ‖ p(z)) over the first `batch` rows in closed form when it has one (else nil); with `training` the
    /// same pass writes `weight`·∂KL/∂μ and `weight`·∂KL/∂log σ² into the model's head gradients (overwrite).
    func closedFormKL(_ model: VariationalAutoencoder, batch: Int, weight: Float, training: Bool) -> Double?

    /// log p(z) of `rows` latent rows at `latent` into `logDensities`, after an encoder pass over `batch` rows. With
    /// `weights` (training) it also writes weights[r]·∂(−log p(z_r))/∂z_r into `latentGradient`'s rows (overwrite) and
    /// the gradient of Σ_r weights[r]·(−log p(z_r)) for its own tensors' path (the VampPrior: into the heads' gradient
    /// rows of its encoder rows, overwrite).
    func logDensity(
        _ model: VariationalAutoencoder, batch: Int, latent: UnsafePointer<Float>, rows: Int,
        into logDensities: UnsafeMutablePointer<Double>, weights: UnsafePointer<Float>?,
        latentGradient: UnsafeMutablePointer<Float>)

    /// `count` draws z ~ p(z) into `latent`, draw k keyed by (seed, k), after an encoder pass over 0 rows (its own).
    func sample(_ model: VariationalAutoencoder, count: Int, seed: UInt64, into latent: UnsafeMutablePointer<Float>)
    /// Doubles of the model's ``VariationalAutoencoder/priorScratch`` that its log-density uses.
    func scratchSize(latentSize: Int) -> Int
}

extension PriorKind {
    public func tensorShapes(inputShape: [Int]) -> [(name: String, shape: [Int])] { [] }
    public var encoderRows: Int { 0 }
    public func initialize(_ parameters: FlatBuffer, tensors: [TensorView], seed: UInt64) {}
    public func fillEncoderRows(_ model: VariationalAutoencoder, at rows: UnsafeMutablePointer<Float>) {}
    public func closedFormKL(_ model: VariationalAutoencoder, batch: Int, weight: Float, training: Bool) -> Double? { nil }
    public func scratchSize(latentSize: Int) -> Int { 0 }
}

/// The prior p(z): one of the registered ``PriorKind``s (its `name` is the `model.prior` spelling, its settings keys
/// under `model.`) with its settings' values.
public struct Prior: RoomChoice {
    /// Every prior, one line each: the registry `model.prior` reads.
    public static let kinds: [any PriorKind.Type] = [
        StandardNormalPrior.self,
        VampPrior.self,
    ]
    public static var registry: [any RoomKind.Type] { kinds }

    public let kind: any PriorKind
    public let settingValues: SettingValues
    public var chosenKind: any RoomKind { kind }
    public init?(built kind: any RoomKind, settingValues: SettingValues) {
        guard let kind = kind as? any PriorKind else { return nil }
        self.kind = kind
        self.settingValues = settingValues
    }

    public var describe: String { kind.describe }
    /// Whether it is N(0, I), the default (left out of logs' model line and of the trajectory).
    public var isStandardNormal: Bool { kind is StandardNormalPrior }

    /// Its keys in the trajectory JSON (`model.prior` and its own settings) — none for the default, so the runs
    /// before priors existed keep their trajectory.
    public var trajectoryFields: [(String, String)] { isStandardNormal ? [] : nameAndSettings(field: "prior") }

    /// N(0, I).
    public static let standardNormal = Prior(name: StandardNormalPrior.name)!
}
