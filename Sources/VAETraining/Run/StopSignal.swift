import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// SIGTERM / SIGINT: the trainer finishes the step it is in, writes a checkpoint and stops (exit status 75 from
/// the CLI). Under MPI every rank learns of a signal any rank received and all stop after the same step.
public enum StopSignal {
    nonisolated(unsafe) static var received: Int32 = 0

    /// Installs the handlers (the CLI does; a library user may not want them). `immediately`: the commands that
    /// write nothing a stop could tear (eval, bench) end at the signal, with status 128 + signal, instead of
    /// finishing a step.
    public static func install(immediately: Bool = false) {
        received = 0  // initialize the global before a handler can touch it
        // A parent may have left these blocked (the mask survives exec): unblock them, or they never arrive.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        if immediately {
            Glibc.signal(SIGTERM) { _exit(128 + $0) }
            Glibc.signal(SIGINT) { _exit(128 + $0) }
        } else {
            Glibc.signal(SIGTERM) { StopSignal.received = $0 }
            Glibc.signal(SIGINT) { StopSignal.received = $0 }
        }
        Glibc.signal(SIGXFSZ, SIG_IGN)  // a file-size limit makes write() fail with EFBIG (reported) instead of killing us
        // A closed stdout or stderr (`vae-dist train | head`) makes writes fail with EPIPE, which the log ignores,
        // instead of killing the run.
        Glibc.signal(SIGPIPE, SIG_IGN)
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
