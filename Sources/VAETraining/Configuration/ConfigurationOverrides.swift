import Foundation
import VAEDistributed
import VAEModel

extension TrainingConfiguration {
    /// Applies command-line overrides on top of a configuration: (dotted key, value) pairs, nil values skipped,
    /// each read and checked as the file reader does, then the settings that depend on each other.
    public mutating func override(_ values: [(key: String, value: Any?)]) throws {
        for (key, value) in values {
            guard let value else { continue }
            let wrapped: Any
            switch value {
            case _ where isJSONBool(value): wrapped = value  // before Int: a JSON true also casts to 1
            case let n as Int: wrapped = NSNumber(value: n)
            case let n as UInt64: wrapped = NSNumber(value: n)
            case let x as Double: wrapped = NSNumber(value: x)
            case let x as Float: wrapped = NSNumber(value: Double(x))
            case let strategy as ExchangeStrategy: wrapped = strategy.rawValue
            case let binarization as Binarization: wrapped = binarization.rawValue
            default: wrapped = value
            }
            try set(ConfigValue(key: key, value: wrapped))
        }
        try validate()
    }
}

/// One configuration key and how a value sets it (see ``TrainingConfiguration/keys``).
/// One key of ``TrainingConfiguration/keys``: its name, how it is read, how it is written to `config.json` (nil:
/// not written) and what it adds to the trajectory JSON.
struct ConfigurationKey: Sendable {
    /// What a key adds to the trajectory JSON: nothing, its written value, or fields of its section.
    enum Trajectory: Sendable {
        case none, always
        case fields(@Sendable (TrainingConfiguration) -> [(String, String)])
    }

    let name: String
    let apply: @Sendable (inout TrainingConfiguration, ConfigValue) throws -> Void
    let write: @Sendable (TrainingConfiguration) -> String?
    let trajectory: Trajectory

    init(
        _ name: String, write: @escaping @Sendable (TrainingConfiguration) -> String? = { _ in nil },
        trajectory: Trajectory = .none, _ apply: @escaping @Sendable (inout TrainingConfiguration, ConfigValue) throws -> Void
    ) {
        self.name = name
        self.apply = apply
        self.write = write
        self.trajectory = trajectory
    }

    /// `model` of `model.latent_size`, and `latent_size`.
    var section: String { String(name.prefix { $0 != "." }) }
    var field: String { String(name.dropFirst(section.count + 1)) }

    /// Its fields in the trajectory JSON of `configuration`.
    func trajectoryFields(_ configuration: TrainingConfiguration) -> [(String, String)] {
        switch trajectory {
        case .none: return []
        case .always: return write(configuration).map { [(field, $0)] } ?? []
        case .fields(let fields): return fields(configuration)
        }
    }
}
