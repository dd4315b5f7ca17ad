import VAESettings

// The objective room: each training objective is one type in one file of this folder (its forward with the gradients
// backward needs, the ε it draws per sample, its settings, its name), listed once in ``Objective/kinds``. Whatever the
// objective, a pass reports ``LossTerms``: the bound it minimizes and the ELBO's two parts estimated on its samples,
// so the exchanges, checkpoints, metrics and TensorBoard never ask which objective ran.

/// One training objective, implemented in a file of its own and registered in ``Objective/kinds``.
public protocol ObjectiveKind: Sendable {
    /// Its `training.objective` spelling.
    static var name: String { get }
    /// Its own settings (keys under `training.`), declared in its file; read only when it is the objective in force.
    static var settings: [AnySetting] { get }
    /// The objective the settings' values give.
    init(settings: SettingValues)

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

/// The training objective: one of the registered ``ObjectiveKind``s with its settings' values.
public struct Objective: Equatable, Sendable {
    /// Every objective, one line each: the registry `training.objective` reads.
    public static let kinds: [any ObjectiveKind.Type] = [
        EvidenceLowerBound.self,
        ImportanceWeightedBound.self,
    ]

    /// The spellings of `training.objective`.
    public static let names = kinds.map { $0.name }

    /// Every objective's own settings.
    public static let settings = kinds.flatMap { $0.settings }

    public let kind: any ObjectiveKind
    /// The values of the settings of its kind.
    public let settingValues: SettingValues

    /// The objective `training.objective: name` gives with these settings; nil for an unknown name.
    public init?(name: String, settings: SettingValues = SettingValues()) {
        guard let kind = Objective.kinds.first(where: { $0.name == name }) else { return nil }
        self.kind = kind.init(settings: settings)
        self.settingValues = settings.keeping(kind.settings)
    }

    /// Its `training.objective` spelling.
    public var name: String { type(of: kind).name }
    /// Its own settings.
    public var settings: [AnySetting] { type(of: kind).settings }
    public var describe: String { kind.describe }
    public var samplesPerInput: Int { kind.samplesPerInput }
    /// Whether it is the ELBO, the default (left out of the trajectory).
    public var isELBO: Bool { kind is EvidenceLowerBound }

    /// Its keys in the trajectory JSON — none for the default, so the runs before objectives existed keep theirs.
    public var trajectoryFields: [(String, String)] {
        isELBO ? [] : [("objective", jsonLiteral(name))] + settings.map { ($0.field, settingValues.jsonText($0)) }
    }

    public static func == (a: Objective, b: Objective) -> Bool { a.name == b.name && a.settingValues == b.settingValues }

    /// The ELBO.
    public static let elbo = Objective(name: EvidenceLowerBound.name)!
}
