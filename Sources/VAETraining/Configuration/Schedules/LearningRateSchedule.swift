import Foundation
import VAESettings

// The learning-rate schedule room: each schedule is one type in one file of this folder (its rate, its settings,
// what it adds to the trajectory), listed once in ``LearningRateSchedule/kinds``.

/// One learning-rate schedule: the rate as a pure function of the global step (so a resume, at any rank count,
/// continues it exactly). Implemented in a file of its own and registered in ``LearningRateSchedule/kinds``.
public protocol LearningRateScheduleKind: Sendable {
    /// Its `training.lr_schedule` spelling.
    static var name: String { get }
    /// Its own settings (keys under `training.`), declared in its file.
    static var settings: [AnySetting] { get }
    init(settings: SettingValues)
    /// The rate for global step `step` (1-based: the step about to run), with `horizon` the run's length in steps
    /// (epochs × steps per epoch) for a schedule that decays over the run.
    func rate(at step: Int, base: Float, horizon: Int) -> Float
    /// The same with the run's steps per epoch known (a schedule counted in epochs; the default ignores it).
    func rate(at step: Int, base: Float, stepsPerEpoch: Int, horizon: Int) -> Float
    /// Its fields in the trajectory JSON; the default: `lr_schedule` and each of its settings.
    func trajectoryFields(settings: SettingValues, epochs: Int) -> [(String, String)]
    /// Checks its settings together (each alone is checked as it is read); the default: nothing to check.
    static func check(_ settings: SettingValues) throws
}

extension LearningRateScheduleKind {
    public func rate(at step: Int, base: Float, stepsPerEpoch: Int, horizon: Int) -> Float {
        rate(at: step, base: base, horizon: horizon)
    }
    public static func check(_ settings: SettingValues) throws {}

    public func trajectoryFields(settings: SettingValues, epochs: Int) -> [(String, String)] {
        [("lr_schedule", jsonLiteral(Self.name))] + Self.settings.map { ($0.field, settings.jsonText($0)) }
    }
}

/// The learning-rate schedule in force: a registered kind with its settings.
public struct LearningRateSchedule: Equatable, Sendable {
    /// Every schedule, one line each: the registry `training.lr_schedule` reads.
    public static let kinds: [any LearningRateScheduleKind.Type] = [
        ConstantRate.self,
        StepDecay.self,
        CosineDecay.self,
        PiecewiseConstant.self,
    ]

    /// The spellings of `training.lr_schedule`.
    public static let names = kinds.map { $0.name }
    /// Every schedule's own settings (all written to `config.json`, whichever is in force).
    static let settings = kinds.flatMap { $0.settings }

    public let kind: any LearningRateScheduleKind
    let settingValues: SettingValues

    /// The schedule `name` with these settings; nil for an unknown name.
    public init?(name: String, settings: SettingValues) {
        guard let kind = LearningRateSchedule.kinds.first(where: { $0.name == name }) else { return nil }
        self.kind = kind.init(settings: settings)
        settingValues = settings.keeping(kind.settings)
    }

    public var name: String { type(of: kind).name }

    /// The rate for global step `step` (see ``LearningRateScheduleKind/rate(at:base:horizon:)``).
    public func rate(at step: Int, base: Float, horizon: Int) -> Float { kind.rate(at: step, base: base, horizon: horizon) }

    /// The rate for global step `step` with the run's steps per epoch known.
    public func rate(at step: Int, base: Float, stepsPerEpoch: Int, horizon: Int) -> Float {
        kind.rate(at: step, base: base, stepsPerEpoch: stepsPerEpoch, horizon: horizon)
    }

    /// Checks the settings of the schedule `name` together (``LearningRateScheduleKind/check(_:)``).
    static func check(name: String, settings: SettingValues) throws {
        try kinds.first { $0.name == name }?.check(settings)
    }

    /// Its fields in the trajectory JSON.
    func trajectoryFields(epochs: Int) -> [(String, String)] { kind.trajectoryFields(settings: settingValues, epochs: epochs) }

    public static func == (a: LearningRateSchedule, b: LearningRateSchedule) -> Bool {
        a.name == b.name && a.settingValues == b.settingValues
    }
}

/// The base rate throughout. Adds nothing to the trajectory (earlier runs keep their hash).
public struct ConstantRate: LearningRateScheduleKind {
    public static let name = "constant"
    public static let settings: [AnySetting] = []
    public init(settings: SettingValues) {}
    public func rate(at step: Int, base: Float, horizon: Int) -> Float { base }
    public func trajectoryFields(settings: SettingValues, epochs: Int) -> [(String, String)] { [] }
}
