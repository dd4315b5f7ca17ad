import ArgumentParser
import Foundation
import Logging
import VAEDistributed
import VAEMPI
import VAETraining

/// What a test build of the commands installs around them (`vae-dist-faults`): each rank's training hooks and a
/// simulated node split. `vae-dist` runs with none. Bound for the commands' run with `CommandHarness.$current.withValue`
/// around `VAEDist.main()`; read once on the main thread where a command starts.
public struct CommandHarness: Sendable {
    /// Makes one rank's training hooks (called by each rank as its work starts).
    public var makeHooks: @Sendable () -> TrainingHooks?
    /// Under MPI: consecutive groups of this many ranks stand for one node each.
    public var ranksPerNode: Int?

    public init(makeHooks: @escaping @Sendable () -> TrainingHooks?, ranksPerNode: Int?) {
        self.makeHooks = makeHooks
        self.ranksPerNode = ranksPerNode
    }

    /// The harness of this run of the commands, or nil (vae-dist).
    @TaskLocal public static var current: CommandHarness?
}

/// Shared start-up: the communicator (MPI only when launched by mpirun), logging, and user-facing errors.
enum Console {
    /// Runs `body` with a communicator. Under mpirun it is MPI's (initialized here, finalized at the end);
    /// otherwise single-process, and MPI is never initialized. Errors become one `error: …` line on standard error
    /// and exit status 1: an error every rank agreed on ends each rank cleanly; any other error under MPI aborts
    /// the whole job so no rank is left waiting.
    /// `startUpLimit`: the collective timeout (seconds, 0: off) that watches MPI start-up until the run sets its own.
    static func run(
        stopsAtOnce: Bool = false, logLevel: Logger.Level = .info, threads: Int = 1,
        startUpLimit: Double = TrainingConfiguration().collectiveTimeout,
        _ body: @escaping (Communicator, Logger) throws -> Void
    ) throws {
        StopSignal.install(immediately: stopsAtOnce)
        if MPICommunicator.isLaunchedByMPI {
            let mpi: MPICommunicator
            do { mpi = try MPICommunicator.start(ranksPerNode: CommandHarness.current?.ranksPerNode) } catch {
                report("\(error)")
                throw ExitCode.failure
            }
            // Start-up (configuration and data agreement, shared windows, the parameter broadcast) is watched too,
            // with the limit the command was given (the default where it has none) until the run sets its own.
            mpi.startWatchdog(limitSeconds: startUpLimit)
            if threads > 1 {
                // Hybrid: this rank's `threads` threads as ranks of the job (thread 0, this thread, makes the MPI calls).
                let code = onThreads(threads, outer: mpi, body, logLevel: logLevel)
                mpi.finish()
                if let code { throw code }
            } else if let code = execute(body, communicator: mpi, logLevel: logLevel, finish: mpi.finish) {
                throw code
            }
        } else if threads > 1 {
            if let code = onThreads(threads, outer: nil, body, logLevel: logLevel) { throw code }
        } else {
            if let code = execute(body, communicator: SingleProcessCommunicator(), logLevel: logLevel, finish: {}) { throw code }
        }
    }

    /// Runs `body` on `threads` threads, each a rank (``ThreadGroup``; with `outer`, of a hybrid job); thread 0's
    /// exit code (every thread agrees on it, or the job has been aborted).
    static func onThreads(
        _ threads: Int, outer: Communicator?, _ body: @escaping (Communicator, Logger) throws -> Void, logLevel: Logger.Level
    ) -> ExitCode? {
        let codes = ThreadGroup(size: threads, outer: outer).run { communicator in
            nonisolated(unsafe) let body = body
            return execute(body, communicator: communicator, logLevel: logLevel, finish: {})
        }
        return codes[0]
    }

    /// Runs `body` on one rank and turns its outcome into an exit code (nil: success): an error every rank agreed
    /// on ends each rank cleanly; any other error in a job of several ranks ends the whole job at once.
    static func execute(
        _ body: (Communicator, Logger) throws -> Void, communicator: Communicator, logLevel: Logger.Level,
        finish: () -> Void
    ) -> ExitCode? {
        let rank = communicator.rank, size = communicator.size
        // Rank 0 logs at the chosen level; the others only warn.
        let logger = Logger(label: "vae-dist") { _ in
            ConsoleLogHandler(logLevel: rank == 0 ? logLevel : max(logLevel, .warning), rank: size > 1 ? rank : nil)
        }
        do {
            try body(communicator, logger)
            finish()
            return nil
        } catch let stop as Interrupted {
            // Every rank stopped after the same step and the checkpoint is written: a clean, distinct exit.
            if communicator.isLeader { writeStandardError("vae-dist: \(stop)\n") }
            finish()
            return ExitCode(Interrupted.exitCode)
        } catch let failure as CollectiveFailure {
            // Agreed by every rank: the failed ranks print their own error, rank 0 the job-wide summary.
            // An error every rank hit alike is printed once, by rank 0.
            let unanimous = failure.failedRanks.count == size
            if communicator.isLeader && (unanimous || failure.local == nil) {
                report("\(failure)")
            } else if failure.local != nil && !unanimous {
                report("rank \(rank): \(failure)")
            }
            finish()
            return ExitCode.failure
        } catch {
            report(size > 1 ? "rank \(rank): \(error)" : "\(error)")
            if size > 1 { communicator.abort(code: 1) }
            return ExitCode.failure
        }
    }

    /// Applies the flags to the default configuration before any work: a flag of the wrong type or range is one
    /// `error:` line (the key's own message) and exit status 1. Under mpirun the run itself checks them, agreed
    /// by every rank, so the job prints that line once.
    static func validateFlags(_ overrides: [(key: String, value: Any?)]) throws {
        guard !MPICommunicator.isLaunchedByMPI else { return }
        var defaults = TrainingConfiguration()
        do { try defaults.override(overrides) } catch {
            report("\(error)")
            throw ExitCode.failure
        }
    }

    /// Work before a run's ranks start (choosing the thread count): an error is one `error:` line and exit 1.
    static func beforeStart<Value>(_ body: () throws -> Value) throws -> Value {
        do { return try body() } catch {
            report("\(error)")
            throw ExitCode.failure
        }
    }

    static func report(_ message: String) {
        writeStandardError("error: \(message)\n")
    }

    /// Writes to standard error, ignoring a closed or full stream (Foundation's FileHandle.write traps on EPIPE).
    static func writeStandardError(_ text: String) { write(text, to: 2) }

    /// Writes to standard output, ignoring a closed or full stream.
    static func writeStandardOutput(_ text: String) { write(text, to: 1) }

    static func write(_ text: String, to descriptor: Int32) {
        let bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            done += n
        }
    }
}

/// Log lines as a person reads them: the message alone on standard output (the progress lines read like the
/// PyTorch example's prints), `warning:` / `error:` lines on standard error, `rank N:` in front on ranks other than
/// 0. No timestamp, level or label prefix: metrics.jsonl and the event file hold the timed record.
struct ConsoleLogHandler: LogHandler {
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    /// This process's rank under MPI (nil: single process).
    let rank: Int?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let prefix = rank.map { $0 == 0 ? "" : "rank \($0): " } ?? ""
        let message = event.message
        switch event.level {
        case .warning: Console.writeStandardError("\(prefix)warning: \(message)\n")
        case .error, .critical: Console.writeStandardError("\(prefix)error: \(message)\n")
        default: Console.writeStandardOutput("\(prefix)\(message)\n")
        }
    }
}

/// `--log-level` and `--quiet`, shared by every command.
struct LogOptions: ParsableArguments {
    @Option(help: "The least severe log lines shown.")
    var logLevel: Logger.Level = .info
    @Flag(name: [.short, .long], help: "Only warnings and errors (the same as --log-level warning); results still print.")
    var quiet = false

    /// The level in force.
    var level: Logger.Level { quiet ? max(logLevel, .warning) : logLevel }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// `--blas-kernels`, shared by the commands that multiply (train, bench, eval, sample).
struct KernelOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "OpenBLAS's kernels: auto (vae-dist chooses the best set for the CPU's features where OpenBLAS fell back to generic ones), keep (OpenBLAS's own choice), or a set (default: auto).",
            discussion:
                "A set OPENBLAS_CORETYPE names is always kept. Sets: \(BLASKernelSet.allCases.map(\.rawValue).joined(separator: ", ")).",
            valueName: "auto|keep|set"))
    var blasKernels: BLASKernelRequest = .auto

    /// Chooses the kernels before anything else runs: may re-execute this process with OPENBLAS_CORETYPE set
    /// (``BLASKernels``); a request the CPU cannot honour is one `error:` line and exit status 1.
    func start() throws {
        try Console.beforeStart { try BLASKernels.start(blasKernels) }
    }
}

extension BLASKernelRequest: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
    public static var allValueStrings: [String] { allNames }
}
