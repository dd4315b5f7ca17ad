import Foundation
import VAESettings

/// A linear warm-up from 0 over `warmupSteps`, then half a cosine from the base rate down to `minimum` × base at
/// `decaySteps` (and `minimum` × base after it) — SGDR's single cycle with warm-up (`training.lr_schedule:
/// "cosine"`). Without `decaySteps` it decays over the run (epochs × steps per epoch), and the epochs then decide
/// the trajectory.
public struct CosineDecay: LearningRateScheduleKind {
    public static let name = "cosine"
    static let warmupSteps = Setting<Int>(
        "training.lr_warmup_steps", default: 0, min: 0, help: "with lr_schedule cosine: steps of linear warm-up from 0")
    static let decaySteps = Setting<Int?>(
        "training.lr_decay_steps", default: nil,
        help: "with lr_schedule cosine: the step where the cosine reaches its floor (null: the run's last step)",
        read: { $0.value is NSNull ? nil : try $0.integer(min: 1) }, json: { $0.map(String.init) ?? "null" })
    static let minimumFactor = Setting<Double>(
        "training.lr_min_factor", default: 0, help: "with lr_schedule cosine: the floor, a fraction of the rate"
    ) { try $0.number(atLeast: 0, below: 1) }
    public static let settings = [warmupSteps.erased, decaySteps.erased, minimumFactor.erased]

    let warmupSteps: Int, decaySteps: Int?, minimum: Double
    public init(settings: SettingValues) {
        warmupSteps = settings[CosineDecay.warmupSteps]
        decaySteps = settings[CosineDecay.decaySteps]
        minimum = settings[CosineDecay.minimumFactor]
    }

    public func rate(at step: Int, base: Float, horizon: Int) -> Float {
        let total = decaySteps ?? horizon
        if step <= warmupSteps { return Float(Double(base) * Double(step) / Double(max(warmupSteps, 1))) }
        let progress = min(1, Double(step - warmupSteps) / Double(max(total - warmupSteps, 1)))
        let floor = minimum * Double(base)
        return Float(floor + (Double(base) - floor) * 0.5 * (1 + cos(Double.pi * progress)))
    }

    public func trajectoryFields(settings: SettingValues, epochs: Int) -> [(String, String)] {
        [
            ("lr_schedule", "\"cosine\""), ("lr_warmup_steps", "\(warmupSteps)"), ("lr_min_factor", "\(minimum)"),
            decaySteps.map { ("lr_decay_steps", "\($0)") } ?? ("epochs", "\(epochs)"),
        ]
    }
}
