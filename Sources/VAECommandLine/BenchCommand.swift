import ArgumentParser
import CAllocationCounter
import Foundation
import Logging
import VAEBuildInfo
import VAEDistributed
import VAEMPI
import VAEModel
import VAETraining

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed: the sgemm ceiling, samples/s, the step's time split, allocations and peak RSS.",
        discussion: """
            Measures, in one run, the single-thread sgemm rate on the model's own GEMM shapes and the GEMM-bound \
            ceiling it implies, then times training steps. Runs under mpirun too: each rank trains on \
            --batch-per-rank rows (weak scaling) and rank 0 prints per-rank and total figures and the all-reduce share.
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var kernels: KernelOptions
    @OptionGroup var log: LogOptions
    @Option(help: "Timed steps.")
    var steps: Int = 300
    @Option(help: "Untimed warm-up steps.")
    var warmup: Int = 30
    @Option(
        parsing: .upToNextOption,
        help: ArgumentHelp(
            "Gradient exchanges to measure, one report each, side by side in one run.",
            discussion: ExchangeStrategy.helpText))
    var gradientExchange: [ExchangeStrategy] = [.auto]
    @Flag(help: "Measure every gradient exchange (all but auto), one after another in one run.")
    var allExchanges = false
    @Flag(help: "Print one JSON object per report instead of text.")
    var json = false

    /// bench's defaults where the shared options are not given: synthetic data (speed does not depend on the
    /// pixels), 128 rows per rank, one BLAS thread per rank.
    func overrides(ranks: Int) -> [(key: String, value: Any?)] {
        [("data.source", "synthetic"), ("run.blas_threads", 1), ("training.batch_size", 128 * ranks)]
            + common.overrides(threads: common.threads ?? 1, bench: true) + common.perRankBatch(ranks: ranks)
    }

    func validate() throws {
        guard steps >= 3 else { throw ValidationError("--steps must be at least 3 (three timed rounds)") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be at least 0") }
        _ = try common.keyValues(bench: true)
        try Console.validateFlags(overrides(ranks: 1))
    }

    func run() throws {
        try kernels.start()
        try Console.run(stopsAtOnce: true, logLevel: log.level, threads: common.threads ?? 1) { communicator, _ in
            var settings = try communicator.agree {
                try common.config.map(TrainingConfiguration.load(path:)) ?? TrainingConfiguration()
            }
            try communicator.agree { try settings.override(overrides(ranks: communicator.size)) }
            settings.runDirectory = NSTemporaryDirectory()
            let source = settings.dataSource
            let configuration = settings
            let splits = try communicator.agree { try DataSplits.load(source, as: configuration) }
            try settings.adapt(to: splits)
            let strategies = allExchanges ? ExchangeStrategy.allCases.filter { $0 != .auto } : gradientExchange
            let counter: (() -> UInt64)? = vae_allocation_counting_active() != 0 ? { vae_thread_allocation_count() } : nil
            if communicator.isLeader, let warning = BLASKernels.current.warning {
                Console.writeStandardError("warning: \(warning)\n")
            }
            for strategy in strategies {
                var configuration = settings
                try communicator.agree { try configuration.override([("training.gradient_exchange", strategy)]) }
                let report = try communicator.agree {
                    try Benchmark.run(
                        configuration: configuration, data: splits, communicator: communicator,
                        steps: steps, warmup: warmup, allocationCount: counter)
                }
                if communicator.isLeader {
                    if !json && strategies.count > 1 { print("== gradient exchange \(strategy.rawValue)") }
                    print(json ? report.json : report.text)
                }
            }
        }
    }
}
