import VAESettings

// The objective room: each training objective is one type in one file of this folder (its forward with the gradients
// backward needs, the ε it draws per sample, its settings, its name), listed once in ``Objective/kinds``. Whatever the
// objective, a pass reports ``LossTerms``: the bound it minimizes and the ELBO's two parts estimated on its samples,
// so the exchanges, checkpoints, metrics and TensorBoard never ask which objective ran.

/// One training objective, implemented in a file of its own and registered in ``Objective/kinds``.
public protocol ObjectiveKind: RoomKind {

    /// For logs: `elbo`, `iwae (K = 5)`.
    var describe: String { get }
    /// ε draws (and decoder rows) per sample: row k of sample i is row i·K + k of ``VariationalAutoencoder/epsilon``.
    var samplesPerInput: Int { get }
    /// After the encoder pass over the first `batch` rows: the latent samples, the decoder, and the loss terms; with
    /// `training`, the same pass leaves what backward needs — the likelihood's output gradient in the model's
    /// activation gradient, the latent terms' gradients in the heads' gradients (overwrite), a learned likelihood
    /// parameter's gradient in `gradients`.
    func forward(_ model: VariationalAutoencoder, batch: Int, training: Bool, gradients: FlatBuffer) -> LossTerms
}

/// The training objective: one of the registered ``ObjectiveKind``s (its `name` is the `training.objective`
/// spelling, its settings keys under `training.`) with its settings' values.
public struct Objective: RoomChoice {
    /// Every objective, one line each: the registry `training.objective` reads.
    public static let kinds: [any ObjectiveKind.Type] = [
        EvidenceLowerBound.self,
        ImportanceWeightedBound.self,
    ]
    public static var registry: [any RoomKind.Type] { kinds }

    public let kind: any ObjectiveKind
    public let settingValues: SettingValues
    public var chosenKind: any RoomKind { kind }
    public init?(built kind: any RoomKind, settingValues: SettingValues) {
        guard let kind = kind as? any ObjectiveKind else { return nil }
        self.kind = kind
        self.settingValues = settingValues
    }

    public var describe: String { kind.describe }
    public var samplesPerInput: Int { kind.samplesPerInput }
    /// Whether it is the ELBO, the default (left out of the trajectory).
    public var isELBO: Bool { kind is EvidenceLowerBound }

    /// Its keys in the trajectory JSON — none for the default, so the runs before objectives existed keep theirs.
    public var trajectoryFields: [(String, String)] { isELBO ? [] : nameAndSettings(field: "objective") }

    /// The ELBO.
    public static let elbo = Objective(name: EvidenceLowerBound.name)!
}
