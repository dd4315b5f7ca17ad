import Foundation

/// The learning rate as a pure function of the global step (so a resume, at any rank count, continues it exactly).
///
/// - `constant`: the base rate.
/// - `step`: the base rate × `factor`^⌊step / every⌋.
/// - `cosine`: a linear warm-up from 0 over `warmupSteps`, then half a cosine from the base rate down to
///   `minimum` × base at `decaySteps` (and `minimum` × base after it) — SGDR's single cycle with warm-up.
public enum LearningRateSchedule: Equatable, Sendable {
    case constant
    case step(every: Int, factor: Double)
    case cosine(warmupSteps: Int, decaySteps: Int?, minimum: Double)

    /// The rate for global step `step` (1-based: the step about to run), with `horizon` the decay length when the
    /// configuration leaves `decaySteps` to the run (epochs × steps per epoch).
    public func rate(at step: Int, base: Float, horizon: Int) -> Float {
        switch self {
        case .constant:
            return base
        case .step(let every, let factor):
            return Float(Double(base) * pow(factor, Double((step - 1) / max(every, 1))))
        case .cosine(let warmup, let decay, let minimum):
            let total = decay ?? horizon
            if step <= warmup { return Float(Double(base) * Double(step) / Double(max(warmup, 1))) }
            let progress = min(1, Double(step - warmup) / Double(max(total - warmup, 1)))
            let floor = minimum * Double(base)
            return Float(floor + (Double(base) - floor) * 0.5 * (1 + cos(Double.pi * progress)))
        }
    }

    /// The configuration's name for it.
    public var name: String {
        switch self {
        case .constant: return "constant"
        case .step: return "step"
        case .cosine: return "cosine"
        }
    }

    /// The spellings of `training.lr_schedule`.
    public static let names = ["constant", "step", "cosine"]

    /// Its fields in the trajectory JSON (none when constant, so earlier runs keep their hash); a cosine without
    /// decay steps decays over the run's epochs, which then decide the trajectory.
    func trajectoryFields(epochs: Int) -> [(String, String)] {
        switch self {
        case .constant: return []
        case .step(let every, let factor):
            return [("lr_schedule", "\"step\""), ("lr_step_every", "\(every)"), ("lr_step_factor", "\(factor)")]
        case .cosine(let warmup, let decay, let minimum):
            return [
                ("lr_schedule", "\"cosine\""), ("lr_warmup_steps", "\(warmup)"), ("lr_min_factor", "\(minimum)"),
                decay.map { ("lr_decay_steps", "\($0)") } ?? ("epochs", "\(epochs)"),
            ]
        }
    }
}

/// The KL weight β as a pure function of the global step.
///
/// - `constant`: the base β.
/// - `linear`: β rises linearly from 0 to the base over `warmupSteps`, then stays (KL warm-up, Bowman et al.).
/// - `cyclical`: Fu et al. 2019's cyclical annealing: cycles of `cycleSteps`; in each, β rises linearly from 0 to
///   the base over the first `ratio` of the cycle and stays there for the rest.
public enum KLSchedule: Equatable, Sendable {
    case constant
    case linear(warmupSteps: Int)
    case cyclical(cycleSteps: Int, ratio: Double)

    /// β for global step `step` (1-based).
    public func weight(at step: Int, base: Double) -> Double {
        switch self {
        case .constant:
            return base
        case .linear(let warmup):
            return base * min(1, Double(step) / Double(max(warmup, 1)))
        case .cyclical(let cycle, let ratio):
            let position = Double((step - 1) % max(cycle, 1) + 1) / Double(max(cycle, 1))
            return base * min(1, position / ratio)
        }
    }

    public var name: String {
        switch self {
        case .constant: return "constant"
        case .linear: return "linear"
        case .cyclical: return "cyclical"
        }
    }

    /// The spellings of `training.kl_schedule`.
    public static let names = ["constant", "linear", "cyclical"]

    /// Its fields in the trajectory JSON (none when constant).
    var trajectoryFields: [(String, String)] {
        switch self {
        case .constant: return []
        case .linear(let warmup): return [("kl_schedule", "\"linear\""), ("kl_warmup_steps", "\(warmup)")]
        case .cyclical(let cycle, let ratio):
            return [("kl_schedule", "\"cyclical\""), ("kl_cycle_steps", "\(cycle)"), ("kl_cycle_ratio", "\(ratio)")]
        }
    }
}
