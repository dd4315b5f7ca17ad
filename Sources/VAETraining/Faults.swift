import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM / SIGINT: the trainer finishes the step it is in, writes a checkpoint and stops (exit status 75 from
/// the CLI). Under MPI every rank learns of a signal any rank received and all stop after the same step.
public enum StopSignal {
    nonisolated(unsafe) static var received: Int32 = 0

    /// Installs the handlers (the CLI does; a library user may not want them).
    public static func install() {
        received = 0  // initialize the global before a handler can touch it
        // A parent may have left these blocked (the mask survives exec): unblock them, or they never arrive.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        Glibc.signal(SIGTERM) { StopSignal.received = $0 }
        Glibc.signal(SIGINT) { StopSignal.received = $0 }
        Glibc.signal(SIGXFSZ, SIG_IGN)  // a file-size limit makes write() fail with EFBIG (reported) instead of killing us
    }

    /// The signal received, or 0.
    public static var signal: Int32 { received }
}

/// The run stopped on a signal after saving a checkpoint; resume with `--resume latest`.
public struct Interrupted: Error, CustomStringConvertible {
    public let signal: Int32
    public let step: Int
    public let checkpoint: String?
    /// The CLI's exit status for this stop.
    public static let exitCode: Int32 = 75
    public var description: String {
        "stopped by signal \(signal) after step \(step)"
            + (checkpoint.map { "; checkpoint \($0) written, continue with --resume latest" } ?? "")
    }
}

/// Faults injected on purpose, for the fault-tolerance tests only: `VAE_DIST_FAULT=KIND@RANK:STEP[:SECONDS]`, with
/// KIND `stall` (rank RANK sleeps SECONDS before step STEP), `perturb` (rank RANK nudges one parameter after step
/// STEP) or `nan` (rank RANK's first parameter becomes NaN before step STEP). Unset in normal use.
public final class FaultInjection: TrainingHooks {
    enum Kind: String { case stall, perturb, nan }
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
        return FaultInjection(kind: kind, rank: Int(numbers[0]), step: Int(numbers[1]), seconds: numbers.count > 2 ? numbers[2] : 0)
    }

    /// A stall or a NaN on one rank before the step.
    public func beforeStep(_ step: Int, trainer: Trainer) {
        guard rank == trainer.communicator.rank, step == self.step else { return }
        switch kind {
        case .stall: usleep(UInt32(min(seconds, 4000) * 1_000_000))
        case .nan: trainer.model.parameters.pointer[0] = .nan
        case .perturb: break
        }
    }

    /// One rank's parameters perturbed after the step, so the replica check has a divergence to name. Every rank
    /// publishes: with node-shared memory the whole node's copy changes, and its ranks all see the change.
    public func afterStep(_ step: Int, trainer: Trainer) {
        guard kind == .perturb, step == self.step else { return }
        if rank == trainer.communicator.rank { trainer.model.parameters.pointer[0] += 1e-3 }
        trainer.exchange.publish()
    }
}
