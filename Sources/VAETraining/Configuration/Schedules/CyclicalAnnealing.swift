import Foundation
import VAESettings

/// Fu et al. 2019's cyclical annealing (`training.kl_schedule: "cyclical"`): cycles of `cycleSteps`; in each, β
/// rises linearly from 0 to the base over the first `ratio` of the cycle and stays there for the rest.
public struct CyclicalAnnealing: KLScheduleKind {
    public static let name = "cyclical"
    static let cycleSteps = Setting<Int>(
        "training.kl_cycle_steps", default: 1000, min: 1, help: "with kl_schedule cyclical: steps per cycle")
    static let ratio = Setting<Double>(
        "training.kl_cycle_ratio", default: 0.5, help: "with kl_schedule cyclical: the part of each cycle where β rises"
    ) { v in
        let x = try v.number(above: 0)
        guard x <= 1 else { throw v.error("must be in (0, 1], got \(x)") }
        return x
    }
    public static let settings = [cycleSteps.erased, ratio.erased]

    let cycleSteps: Int, ratio: Double
    public init(settings: SettingValues) {
        cycleSteps = settings[CyclicalAnnealing.cycleSteps]
        ratio = settings[CyclicalAnnealing.ratio]
    }

    public func weight(at step: Int, base: Double) -> Double {
        let cycle = max(cycleSteps, 1)
        let position = Double((step - 1) % cycle + 1) / Double(cycle)
        return base * min(1, position / ratio)
    }
}
