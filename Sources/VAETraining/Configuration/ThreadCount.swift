import Foundation
import VAESettings
import VAEDistributed

extension TrainingConfiguration {
    /// How many threads a run trains on, each a rank of one node (``ThreadGroup``; under mpirun in each rank):
    /// `run.threads` when set (a resumed run has the count it was trained with in its stored settings, so it
    /// continues bit for bit); else 1 under mpirun (one rank per core there) or when `run.blas_threads` is set
    /// (BLAS's own threads are then how the cores are used); otherwise the most of `cores` that the global batch — and with the `exact` exchange the
    /// micro-batches — divide into at least ``minimumRowsPerThread`` rows each, so the default run uses every core
    /// a batch can keep busy (each thread also reads every gradient once per step, which thin slices do not repay).
    /// `batchGrowsWithRanks`: `--batch-per-rank` was given, so any count divides.
    public func resolvedThreadCount(cores: Int, launchedByMPI: Bool, batchGrowsWithRanks: Bool = false) -> Int {
        if threads > 0 { return threads }
        if launchedByMPI || blasThreads > 0 { return 1 }
        let strategy = gradientExchange
        return stride(from: max(cores, 1), to: 1, by: -1).first { count in
            batchGrowsWithRanks
                || (batchSize / count >= Self.minimumRowsPerThread
                    && (try? strategy.validate(globalBatchSize: batchSize, ranks: count, microBatches: microBatches)) != nil)
        } ?? 1
    }

    /// The fewest rows of each batch the default thread count gives a thread (the default batch of 128: at most 4).
    public static let minimumRowsPerThread = 32

    /// The most threads a process runs, checked before any starts: threads beyond the cores only take turns, so
    /// four per core (at least 64) is past anything useful and far from what exhausts a machine.
    public static func maximumThreads(cores: Int) -> Int { max(64, 4 * max(cores, 1)) }

    /// `run.threads` against the cap (part of ``validate()``).
    func checkThreadCap(cores: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        let cap = Self.maximumThreads(cores: cores)
        guard threads <= cap else {
            throw ConfigurationError(
                key: "run.threads",
                problem:
                    "\(threads) threads on \(cores) core(s): at most \(cap) (threads beyond the cores only take turns); one per core is --threads \(cores)"
            )
        }
    }

    /// A thread count against the batch before any thread starts: every thread takes whole rows of each batch (and,
    /// with the `exact` exchange, whole micro-batches). `batchGrowsWithRanks`: `--batch-per-rank`, so any count divides.
    public func checkThreads(_ count: Int, batchGrowsWithRanks: Bool) throws {
        guard count > 1, !batchGrowsWithRanks else { return }
        do {
            try gradientExchange.validate(globalBatchSize: batchSize, ranks: count, microBatches: microBatches)
        } catch {
            throw ConfigurationError(key: "run.threads", problem: "\(count) threads: \(error)")
        }
    }
}

extension RunFolder {
    /// The thread count of a run without mpirun (``TrainingConfiguration/resolvedThreadCount(cores:launchedByMPI:batchGrowsWithRanks:)``),
    /// decided before its threads start, from the settings it will have: `requested` and, for a resume, what the
    /// checkpoint stored.
    public static func threadCount(
        _ requested: TrainingConfiguration, runName: String, resume: ResumeSource?, cores: Int, batchGrowsWithRanks: Bool
    ) throws -> Int {
        let settings = try RunFolder.settings(
            requested, runName: runName, resume: resume, communicator: SingleProcessCommunicator())
        let count = settings.resolvedThreadCount(cores: cores, launchedByMPI: false, batchGrowsWithRanks: batchGrowsWithRanks)
        try settings.checkThreads(count, batchGrowsWithRanks: batchGrowsWithRanks)
        return count
    }
}
