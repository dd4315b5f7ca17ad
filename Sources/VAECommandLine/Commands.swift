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

    /// The flags as configuration keys (nil: not given); the keys' types and ranges are the configuration's.
    func overrides(ranks: Int, threads: Int?) -> [(key: String, value: Any?)] {
        common.overrides(threads: threads) + common.perRankBatch(ranks: ranks)
    }

    /// Every flag's type and range, before any work (the configuration file and the rank count come later).
    public func validate() throws {
        let given = try common.keyValues(bench: false)
        if given.contains(where: { $0.key == "training.batch_size" }) && common.batchPerRank != nil {
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
            let splits = try communicator.agree {
                try DataSplits.load(source, as: settings).holdingOut(fraction: fraction, seed: seed)
            }
            try settings.adapt(to: splits)
            let configuration = settings
            let trainer = try communicator.agree {
                try Trainer(configuration: configuration, data: splits, communicator: communicator, logger: logger)
            }
            trainer.hooks = hooks
            let summary = try trainer.run(resume: resume, fineTune: fineTune, initializeFrom: initFrom)
            if let last = summary.epochs.last {
                let (split, terms) = last.reported
                let loss = terms.perSample.loss
                logger.info(
                    "done: \(split) loss \(String(format: "%.4f after epoch %d; %.0f train samples/s", loss, last.epoch, summary.samplesPerSecond))"
                )
            }
        }
    }
}
