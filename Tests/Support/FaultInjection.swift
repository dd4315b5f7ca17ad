import Foundation
import VAETraining
#if canImport(Glibc)
    import Glibc
#endif

/// Faults injected on purpose, for the fault-tolerance tests only: `VAE_DIST_FAULT=KIND@RANK:STEP[:SECONDS]`, with
/// KIND `stall` (rank RANK sleeps SECONDS before step STEP), `perturb` (rank RANK nudges one parameter after step
/// STEP), `nan` (rank RANK's first parameter becomes NaN before step STEP), `stallafter` (rank RANK sleeps SECONDS
/// after step STEP, before the next step's rows are touched) or `startstall` (MPI rank RANK sleeps
/// SECONDS when the run's hooks are made, at the start of its ranks' work: before any setting is agreed). Unset in
/// normal use.
public final class FaultInjection: TrainingHooks {
    enum Kind: String { case stall, perturb, nan, startstall, stallafter }
    let kind: Kind
    let rank: Int
    let step: Int
    let seconds: Double

    init(kind: Kind, rank: Int, step: Int, seconds: Double) {
        self.kind = kind
        self.rank = rank
        self.step = step
        self.seconds = seconds
    }

    /// The fault `VAE_DIST_FAULT` describes, or nil.
    public static func fromEnvironment() -> FaultInjection? {
        guard let text = ProcessInfo.processInfo.environment["VAE_DIST_FAULT"] else { return nil }
        let parts = text.split(separator: "@")
        guard parts.count == 2, let kind = Kind(rawValue: String(parts[0])) else { return nil }
        let numbers = parts[1].split(separator: ":").compactMap { Double($0) }
        guard numbers.count >= 2 else { return nil }
        if kind == .startstall {
            let rank = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_RANK"].flatMap { Int($0) }
            if rank == Int(numbers[0]) { usleep(UInt32(min(numbers.count > 2 ? numbers[2] : 0, 4000) * 1_000_000)) }
        }
        return FaultInjection(
            kind: kind, rank: Int(numbers[0]), step: Int(numbers[1]), seconds: numbers.count > 2 ? numbers[2] : 0)
    }

    /// A stall or a NaN on one rank before the step.
    public func beforeStep(_ step: Int, trainer: Trainer) {
        guard rank == trainer.communicator.rank, step == self.step else { return }
        switch kind {
        case .stall: usleep(UInt32(min(seconds, 4000) * 1_000_000))
        case .nan: trainer.model.parameters.pointer[0] = .nan
        case .perturb, .startstall, .stallafter: break
        }
    }

    /// One rank's parameters perturbed after the step, so the replica check has a divergence to name. Every rank
    /// publishes: with node-shared memory the whole node's copy changes, and its ranks all see the change.
    public func afterStep(_ step: Int, trainer: Trainer) {
        if kind == .stallafter && rank == trainer.communicator.rank && step == self.step {
            usleep(UInt32(min(seconds, 4000) * 1_000_000))
        }
        guard kind == .perturb, step == self.step else { return }
        if rank == trainer.communicator.rank { trainer.model.parameters.pointer[0] += 1e-3 }
        trainer.exchange.publish()
    }
}
