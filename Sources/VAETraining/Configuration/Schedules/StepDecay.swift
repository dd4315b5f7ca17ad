import Foundation
import VAESettings

/// The base rate × `factor`^⌊(step − 1) / every⌋ (`training.lr_schedule: "step"`).
public struct StepDecay: LearningRateScheduleKind {
    public static let name = "step"
    static let every = Setting<Int>(
        "training.lr_step_every", default: 1000, min: 1, help: "with lr_schedule step: steps between decays")
    static let factor = Setting<Double>(
        "training.lr_step_factor", default: 0.5, help: "with lr_schedule step: the factor applied every lr_step_every steps"
    ) { v in
        let x = try v.number(above: 0)
        guard x <= 1 else { throw v.error("must be in (0, 1], got \(x)") }
        return x
    }
    public static let settings = [every.erased, factor.erased]

    let every: Int, factor: Double
    public init(settings: SettingValues) {
        every = settings[StepDecay.every]
        factor = settings[StepDecay.factor]
    }

    public func rate(at step: Int, base: Float, horizon: Int) -> Float {
        Float(Double(base) * pow(factor, Double((step - 1) / max(every, 1))))
    }
}
