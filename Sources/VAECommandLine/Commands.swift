import ArgumentParser
import CAllocationCounter
import Foundation
import Logging
import VAEBuildInfo
import VAEDistributed
import VAEMPI
import VAEModel
import VAETraining

/// `vae-dist`: parses the command line and dispatches to VAETraining. No math lives here.
public struct VAEDist: ParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(
        commandName: "vae-dist",
        abstract: "Train and evaluate variational autoencoders (BLAS-backed, data-parallel over MPI).",
        version: "vae-dist \(BuildInfo.description)",
        subcommands: [Train.self, Evaluate.self, Sample.self, Export.self, Bench.self],
        defaultSubcommand: Train.self)
}

public struct Train: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        abstract: "Train a VAE (the default command).",
        discussion: """
            Settings come from --config (JSON, see Config/), then from the flags given here. Without --config the \
            defaults are the PyTorch MNIST VAE example: 784–400–20–400–784, ReLU, Bernoulli on grey levels, Adam \
            lr 1e-3, batch 128, 10 epochs, seed 1. Checkpoints, metrics.jsonl and the `latest` pointer go to --run-dir.
            """)

    @OptionGroup var common: CommonOptions
    @OptionGroup var kernels: KernelOptions
    @OptionGroup var log: LogOptions
    @Option(help: "Epochs to train in total; a resumed run continues up to this count (default: \(defaults.epochs)).")
    var epochs: Int?
    @Option(help: "Stop after this many optimizer steps in total (default: none, all epochs).")
    var maxSteps: Int?
    @Option(help: "Global batch size, over all ranks (default: \(defaults.batchSize)).")
    var batchSize: Int?
    @Option(help: "Adam learning rate (default: \(defaults.adam.learningRate)).")
    var learningRate: Float?
    @Option(help: "Seed of every random stream: initialization, data order, ε, binarization (default: \(defaults.seed)).")
    var seed: UInt64?
    @Option(
        help: "Binarization of the pixels: none (grey levels), dynamic or static (default: \(defaults.binarization.rawValue)).")
    var binarization: Binarization?
    @Option(
        help:
            "The likelihood p(x|z): bernoulli (values in [0, 1]) or gaussian (any real values) (default: \(defaults.architecture.likelihood.name))."
    )
    var likelihood: LikelihoodName?
    @Flag(help: "Standardize float data per feature (training set's mean and deviation; stored in the checkpoint).")
    var standardize = false
    @Option(help: "Hold out this seeded fraction of the training set as the validation set, 0 ≤ F < 1 (default: 0, none).")
    var validationFraction: Double?
    @Option(
        help:
            "The run folder: checkpoints, latest/best pointers, metrics.jsonl, config.json, run.json, events (default: a new runs/NAME/version_N, NAME: the --config file's name or 'default')."
    )
    var runDir: String?
    @Option(
        help: ArgumentHelp(
            "Resume from 'latest' (the run folder's pointer) or a checkpoint path, with the checkpoint's settings.",
            discussion:
                "Settings given again (--config, flags, --set) must equal the stored ones where they change the training; --fine-tune allows a change. Without --run-dir a path resumes in its own folder, 'latest' in the newest runs/NAME/version_N."
        ))
    var resume: ResumeSource?
    @Flag(
        help:
            "With --resume: continue from the checkpoint with the settings given now where they differ (logged and recorded in metrics.jsonl)."
    )
    var fineTune = false
    @Option(
        help: ArgumentHelp(
            "Start a fresh run from the model tensors of a safetensors file (a PyTorch state_dict, an export, a checkpoint).",
            discussion: "Tensors are matched by name and shape (fc1.weight …); Adam's state starts fresh.",
            valueName: "file"))
    var initFrom: String?
    @Option(
        help:
            "Also checkpoint every this many steps; 0: only at epoch ends and at the stop (default: \(defaults.checkpointEvery))."
    )
    var checkpointEvery: Int?
    @Option(help: "Checkpoints kept after rotation, besides the best (default: \(defaults.keepCheckpoints)).")
    var keepCheckpoints: Int?
    @Option(help: "Print a progress line every this many steps (default: \(defaults.logEvery)).")
    var logEvery: Int?
    @Option(
        help: ArgumentHelp(
            "How gradients are summed across ranks and Adam steps (default: auto, node-shared under mpirun where it applies, else allreduce).",
            discussion: ExchangeStrategy.helpText))
    var gradientExchange: ExchangeStrategy?
    @Option(
        help:
            "Under MPI: end the job when a collective waits longer than this many seconds; 0: off (default: \(Int(defaults.collectiveTimeout)))."
    )
    var collectiveTimeout: Double?
    @Option(
        help:
            "Under MPI: compare parameter hashes across ranks every this many steps; 0: off (default: \(defaults.divergenceCheckEvery))."
    )
    var divergenceCheckEvery: Int?
    @Flag(help: ArgumentHelp("Deprecated: --gradient-exchange sharded-adam.", visibility: .hidden))
    var shardedOptimizer = false
    @Flag(help: ArgumentHelp("Deprecated: --gradient-exchange allreduce-overlapped.", visibility: .hidden))
    var overlapAllreduce = false
    @Option(help: ArgumentHelp("Deprecated: --gradient-exchange exact.", visibility: .hidden))
    var reduction: String?

    /// The flags as configuration keys (nil: not given); the keys' types and ranges are the configuration's.
    func overrides(ranks: Int, threads: Int?) -> [(key: String, value: Any?)] {
        common.overrides(threads: threads) + [
            ("training.epochs", epochs), ("training.max_steps", maxSteps), ("training.batch_size", batchSize),
            ("training.learning_rate", learningRate), ("training.seed", seed), ("data.binarization", binarization),
            ("model.likelihood", likelihood?.rawValue), ("data.standardize", standardize ? true : nil),
            ("data.validation_fraction", validationFraction),
            ("run.run_dir", runDir), ("run.checkpoint_every", checkpointEvery), ("run.keep_checkpoints", keepCheckpoints),
            ("run.log_every", logEvery), ("training.gradient_exchange", gradientExchange),
            ("run.collective_timeout", collectiveTimeout), ("run.divergence_check_every", divergenceCheckEvery),
            ("training.sharded_optimizer", shardedOptimizer ? true : nil),
            ("training.overlap_allreduce", overlapAllreduce ? true : nil),
            ("training.reduction", reduction),
        ] + common.perRankBatch(ranks: ranks)
    }

    /// Every flag's type and range, before any work (the configuration file and the rank count come later).
    public func validate() throws {
        if batchSize != nil && common.batchPerRank != nil {
            throw ValidationError("give --batch-size (the global batch) or --batch-per-rank, not both")
        }
        if fineTune && resume == nil {
            throw ValidationError(
                "--fine-tune changes the settings of a resumed run: give it with --resume latest or --resume CHECKPOINT")
        }
        if resume != nil && initFrom != nil {
            throw ValidationError(
                "give --resume (continue a run, with its optimizer state) or --init-from (a fresh run from weights), not both")
        }
        try Console.validateFlags(overrides(ranks: 1, threads: common.threads))
    }

    public func run() throws {
        try kernels.start()
        let name = common.config.map { (($0 as NSString).lastPathComponent as NSString).deletingPathExtension } ?? "default"
        /// The configuration file (or the defaults) with the flags on top, for `ranks` ranks.
        func requested(ranks: Int, threads: Int?) throws -> TrainingConfiguration {
            var requested = try common.config.map(TrainingConfiguration.load(path:)) ?? TrainingConfiguration()
            try requested.override(overrides(ranks: ranks, threads: threads))
            return requested
        }
        // The thread count comes first (the threads are the ranks): from the settings the run will have.
        let cores = ProcessInfo.processInfo.activeProcessorCount
        // Under mpirun each rank reads its settings alone, before MPI starts (no checkpoint read): a broken
        // configuration is reported by the run itself, agreed, once. Its collective timeout watches start-up too.
        let alone = MPICommunicator.isLaunchedByMPI ? try? requested(ranks: 1, threads: common.threads) : nil
        let threads =
            MPICommunicator.isLaunchedByMPI
            ? alone?.resolvedThreadCount(cores: cores, launchedByMPI: true) ?? 1
            : try Console.beforeStart {
                try RunFolder.threadCount(
                    requested(ranks: 1, threads: common.threads), runName: name, resume: resume, cores: cores,
                    batchGrowsWithRanks: common.batchPerRank != nil)
            }
        let startUpLimit = alone?.collectiveTimeout ?? TrainingConfiguration().collectiveTimeout
        // What watches each training step: nothing in vae-dist; the test build's faults (CommandHarness).
        let makeHooks = CommandHarness.current?.makeHooks ?? { nil }
        try Console.run(logLevel: log.level, threads: threads, startUpLimit: startUpLimit) { communicator, logger in
            let hooks = makeHooks()
            let ranks = communicator.size
            let given = try communicator.agree { try requested(ranks: ranks, threads: threads) }
            var settings = try RunFolder.settings(given, runName: name, resume: resume, communicator: communicator)
            let (source, fraction, seed) = (settings.dataSource, settings.validationFraction, settings.seed)
            let splits = try communicator.agree { try DataSplits.load(source).holdingOut(fraction: fraction, seed: seed) }
            settings.adapt(to: splits)
            let configuration = settings
            let trainer = try communicator.agree {
                try Trainer(configuration: configuration, data: splits, communicator: communicator, logger: logger)
            }
            trainer.hooks = hooks
            let summary = try trainer.run(resume: resume, fineTune: fineTune, initializeFrom: initFrom)
            if let last = summary.epochs.last {
                let (split, terms) = last.reported
                let loss = terms.perSample(klWeight: settings.klWeight).loss
                logger.info(
                    "done: \(split) loss \(String(format: "%.4f after epoch %d; %.0f train samples/s", loss, last.epoch, summary.samplesPerSecond))"
                )
            }
        }
    }
}

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
            + common.overrides(threads: common.threads ?? 1) + common.perRankBatch(ranks: ranks)
    }

    func validate() throws {
        guard steps >= 3 else { throw ValidationError("--steps must be at least 3 (three timed rounds)") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be at least 0") }
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
            let splits = try communicator.agree { try DataSplits.load(source) }
            settings.adapt(to: splits)
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

/// The options `train` and `bench` share.
struct CommonOptions: ParsableArguments {
    @Option(
        help:
            "A JSON training configuration, e.g. Config/mnist-pytorch-example.json or a run's config.json (default: the PyTorch example's settings)."
    )
    var config: String?
    @Option(
        help: ArgumentHelp(
            "The data: a folder (MNIST's IDX files, train.npy/test.npy, or train/ test/ folders of shards), an .npy or IDX file (.gz too), a .json manifest, or 'synthetic' (default: \(defaults.dataSource); bench's: synthetic).",
            discussion: "See \"Your own data\" in the README."))
    var data: String?
    @Option(help: "Weak scaling: the batch per rank; the global batch becomes this × ranks (default: none; bench's: 128).")
    var batchPerRank: Int?
    @Option(
        help:
            "OpenBLAS threads per rank (default: all cores, 0, when training on one thread; with several threads and in bench: 1)."
    )
    var blasThreads: Int?
    @Option(
        help: ArgumentHelp(
            "Train on this many threads, each a rank of one node (node-shared: the same bits as mpirun -n N); under mpirun, in each rank (hybrid: each rank a node of N) (default: train's: the cores available that divide the batch into 32 rows or more, 1 with --blas-threads or under mpirun, a resumed run's own count; bench's: 1).",
            discussion:
                "Each thread takes its rows of every batch with one BLAS thread; their gradients are summed in a fixed order."))
    var threads: Int?
    @Option(help: "Micro-batches per global batch with --gradient-exchange exact (default: \(defaults.microBatches)).")
    var microBatches: Int?

    @Option(
        name: .customLong("set"),
        help: ArgumentHelp(
            "Any configuration key: --set training.lr_schedule=cosine --set model.latent_size=2 (repeatable; after --config).",
            discussion: "The value is read as JSON when it parses (numbers, true/false, [lists], null), else as a string.",
            valueName: "section.key=value"))
    var settings: [String] = []

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let bad = settings.first(where: { !$0.contains("=") || $0.hasPrefix("=") }) {
            throw ValidationError("--set takes section.key=value (e.g. --set training.kl_schedule=linear), got '\(bad)'")
        }
    }

    /// The flags as configuration keys; `threads`: the run's thread count when known (nil: not decided yet).
    func overrides(threads: Int?) -> [(key: String, value: Any?)] {
        [
            ("data.source", data), ("run.blas_threads", blasThreads ?? ((threads ?? 1) > 1 ? 1 : nil)),
            ("run.threads", threads), ("training.micro_batches", microBatches),
        ]
            + settings.map { setting in
                guard let equals = setting.firstIndex(of: "=") else { return (setting, nil) }  // refused by validate()
                let key = String(setting[..<equals]), text = String(setting[setting.index(after: equals)...])
                let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
                return (key, parsed ?? text)
            }
    }

    /// Last, so it wins over --batch-size: the global batch from the per-rank one.
    func perRankBatch(ranks: Int) -> [(key: String, value: Any?)] {
        [("training.batch_size", batchPerRank.map { $0 * ranks })]
    }
}

/// The configuration's defaults, shown in `--help`.
private let defaults = TrainingConfiguration()

/// `--likelihood`'s values (the configuration reads `model.likelihood` by name).
enum LikelihoodName: String, CaseIterable, ExpressibleByArgument {
    case bernoulli, gaussian
}

extension Binarization: ExpressibleByArgument {}

extension DataSplit: ExpressibleByArgument {}

extension ResumeSource: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

extension ExchangeStrategy: ExpressibleByArgument {
    /// One line per strategy for `--help`.
    static var helpText: String { allCases.map { "\($0.rawValue): \($0.summary)" }.joined(separator: "\n") }
}
