import Foundation
import VAEModel
import VAESettings

/// One key of ``TrainingConfiguration/keys``, declared once: its dotted name, its help line, its flag (if any), how
/// a value sets it (the typed read of ``ConfigValue`` checks the range and names the key in any error), how it is
/// written to `config.json` (nil: not written) and what it adds to the trajectory JSON.
struct ConfigurationKey: Sendable {
    /// What a key adds to the trajectory JSON: nothing, its written value, or fields of its section.
    enum Trajectory: Sendable {
        case none, always
        case fields(@Sendable (TrainingConfiguration) -> [(String, String)])
    }

    let name: String
    let help: String
    let flag: SettingFlag?
    let apply: @Sendable (inout TrainingConfiguration, ConfigValue) throws -> Void
    let write: @Sendable (TrainingConfiguration) -> String?
    let trajectory: Trajectory
    /// The default the docs show when `write` leaves the key out of the defaults' `config.json`.
    var shownDefault: String? = nil

    init(
        _ name: String, help: String, flag: SettingFlag? = nil,
        write: @escaping @Sendable (TrainingConfiguration) -> String? = { _ in nil },
        trajectory: Trajectory = .none, _ apply: @escaping @Sendable (inout TrainingConfiguration, ConfigValue) throws -> Void
    ) {
        self.name = name
        self.help = help
        self.flag = flag
        self.apply = apply
        self.write = write
        self.trajectory = trajectory
    }

    /// A setting declared where it is used (a schedule's in the schedule's file, a key's beside its one reader): read
    /// into the configuration's ``TrainingConfiguration/settings`` and always written to `config.json`; with
    /// `inTrajectory`, in the trajectory JSON whenever it differs from its default (so earlier runs keep their hash;
    /// the schedules put theirs in the trajectory themselves).
    init(setting: AnySetting, inTrajectory: Bool = false) {
        self.init(
            setting.key, help: setting.help, flag: setting.flag, write: { $0.settings.jsonText(setting) },
            trajectory: inTrajectory
                ? .fields { config in
                    let value = config.settings.jsonText(setting)
                    return value == setting.defaultJSON ? [] : [(setting.field, value)]
                } : .none
        ) { try $0.settings.set(setting, from: $1) }
    }

    /// A model room's own setting (a likelihood's or a prior's, declared in its file): read into the configuration's
    /// settings, the room's value in force rebuilt with it (`rebuild`), and written only while `settingsInForce` (the
    /// room in force's settings and values) has it.
    init(
        modelRoom setting: AnySetting,
        settingsInForce: @escaping @Sendable (TrainingConfiguration) -> ([AnySetting], SettingValues),
        rebuild: @escaping @Sendable (inout TrainingConfiguration) -> Void
    ) {
        self.init(
            setting.key, help: setting.help, flag: setting.flag,
            write: { config in
                let (settings, values) = settingsInForce(config)
                return settings.contains { $0.key == setting.key } ? values.jsonText(setting) : nil
            }
        ) { config, value in
            try config.settings.set(setting, from: value)
            rebuild(&config)
        }
        shownDefault = setting.defaultJSON
    }

    /// A likelihood's own setting.
    init(likelihood setting: AnySetting) {
        self.init(
            modelRoom: setting,
            settingsInForce: { ($0.architecture.likelihood.settings, $0.architecture.likelihood.settingValues) }
        ) { $0.architecture.likelihood = Likelihood(name: $0.architecture.likelihood.name, settings: $0.settings)! }
    }

    /// A prior's own setting.
    init(prior setting: AnySetting) {
        self.init(
            modelRoom: setting, settingsInForce: { ($0.architecture.prior.settings, $0.architecture.prior.settingValues) }
        ) { $0.architecture.prior = Prior(name: $0.architecture.prior.name, settings: $0.settings)! }
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
