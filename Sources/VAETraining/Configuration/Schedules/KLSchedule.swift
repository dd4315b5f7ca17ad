import Foundation
import VAESettings

// The KL-weight schedule room: each schedule is one type in one file of this folder, listed once in
// ``KLSchedule/kinds``.

/// One KL-weight schedule: β as a pure function of the global step. Implemented in a file of its own and
/// registered in ``KLSchedule/kinds``.
public protocol KLScheduleKind: Sendable {
    /// Its `training.kl_schedule` spelling.
    static var name: String { get }
    /// Its own settings (keys under `training.`), declared in its file.
    static var settings: [AnySetting] { get }
    init(settings: SettingValues)
    /// β for global step `step` (1-based).
    func weight(at step: Int, base: Double) -> Double
    /// Its fields in the trajectory JSON; the default: `kl_schedule` and each of its settings.
    func trajectoryFields(settings: SettingValues) -> [(String, String)]
}

extension KLScheduleKind {
    public func trajectoryFields(settings: SettingValues) -> [(String, String)] {
        [("kl_schedule", jsonLiteral(Self.name))] + Self.settings.map { ($0.field, settings.jsonText($0)) }
    }
}

/// The KL-weight schedule in force: a registered kind with its settings.
public struct KLSchedule: Equatable, Sendable {
    /// Every schedule, one line each: the registry `training.kl_schedule` reads.
    public static let kinds: [any KLScheduleKind.Type] = [
        ConstantWeight.self,
        LinearWarmUp.self,
        CyclicalAnnealing.self,
    ]

    /// The spellings of `training.kl_schedule`.
    public static let names = kinds.map { $0.name }
    /// Every schedule's own settings (all written to `config.json`, whichever is in force).
    static let settings = kinds.flatMap { $0.settings }

    public let kind: any KLScheduleKind
    let settingValues: SettingValues

    /// The schedule `name` with these settings; nil for an unknown name.
    public init?(name: String, settings: SettingValues) {
        guard let kind = KLSchedule.kinds.first(where: { $0.name == name }) else { return nil }
        self.kind = kind.init(settings: settings)
        settingValues = settings.keeping(kind.settings)
    }

    public var name: String { type(of: kind).name }

    /// β for global step `step` (1-based).
    public func weight(at step: Int, base: Double) -> Double { kind.weight(at: step, base: base) }

    /// Its fields in the trajectory JSON.
    var trajectoryFields: [(String, String)] { kind.trajectoryFields(settings: settingValues) }

    public static func == (a: KLSchedule, b: KLSchedule) -> Bool { a.name == b.name && a.settingValues == b.settingValues }
}

/// β = the base throughout. Adds nothing to the trajectory.
public struct ConstantWeight: KLScheduleKind {
    public static let name = "constant"
    public static let settings: [AnySetting] = []
    public init(settings: SettingValues) {}
    public func weight(at step: Int, base: Double) -> Double { base }
    public func trajectoryFields(settings: SettingValues) -> [(String, String)] { [] }
}
