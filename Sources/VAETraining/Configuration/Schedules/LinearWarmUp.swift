import Foundation
import VAESettings

/// β rises linearly from 0 to the base over `warmupSteps`, then stays (KL warm-up, Bowman et al. 2016;
/// `training.kl_schedule: "linear"`).
public struct LinearWarmUp: KLScheduleKind {
    public static let name = "linear"
    static let warmupSteps = Setting<Int>(
        "training.kl_warmup_steps", default: 1000, min: 1, help: "with kl_schedule linear: steps for β to rise from 0")
    public static let settings = [warmupSteps.erased]

    let warmupSteps: Int
    public init(settings: SettingValues) { warmupSteps = settings[LinearWarmUp.warmupSteps] }

    public func weight(at step: Int, base: Double) -> Double { base * min(1, Double(step) / Double(max(warmupSteps, 1))) }
}
