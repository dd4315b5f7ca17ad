import Foundation
import Logging
import VAEBuildInfo
import VAEDistributed
import VAEModel

/// One finished epoch.
public struct EpochSummary: Equatable, Sendable {
    public var epoch: Int
    public var train: LossTerms
    /// The validation pass, when there is a validation set.
    public var validation: LossTerms?
    /// The test pass, when there is a test set.
    public var test: LossTerms?
    public var seconds: Double

    /// The loss a run reports as its result: the test set's, else the validation set's, else training's.
    public var reported: (split: String, terms: LossTerms) {
        if let test { return ("test", test) }
        if let validation { return ("validation", validation) }
        return ("train", train)
    }
}

/// What a call to ``Trainer/run(resume:)`` did.
public struct TrainingSummary: Sendable {
    public var position: TrainingPosition
    public var epochs: [EpochSummary]
    /// Training samples per second over the whole run (all ranks, excluding test passes and checkpoints).
    public var samplesPerSecond: Double
    /// The last checkpoint written, if any.
    public var lastCheckpoint: String?
}

/// Everything a run reports, out of the training loop: progress lines (swift-log, in the PyTorch example's format
/// plus samples/s and ETA), `metrics.jsonl`, the TensorBoard event file and the epoch's image grids. Only rank 0
/// writes; on the other ranks every call but the collective ones does nothing.
public final class TrainingReport {
    let configuration: TrainingConfiguration
    let data: DataSplits
    let store: CheckpointStore
    let logger: Logger
    let communicator: Communicator
    let writes: Bool
    let metrics: MetricsLog
    var tensorboard: TensorBoardWriter?
    let clock = ContinuousClock()
    /// The current progress window (since the last progress line).
    var windowStart: ContinuousClock.Instant
    var windowSamples = 0
    /// Step time and samples over the run, for the train samples/s figures.
    var trainSeconds = 0.0, trainSamples = 0
    /// When the last epoch's steps ended, and how long the work between epochs took the last time (ETA).
    var epochEndStart: ContinuousClock.Instant?
    var epochEndSeconds = 0.0

    /// Opens metrics.jsonl (keeping the records through `keepingThrough`, for a resume) and the event file on
    /// rank 0. Collective: every rank learns whether rank 0 could open them.
    public init(
        configuration: TrainingConfiguration, data: DataSplits, store: CheckpointStore, logger: Logger,
        communicator: Communicator, keepingThrough step: Int
    ) throws {
        self.configuration = configuration
        self.data = data
        self.store = store
        self.logger = logger
        self.communicator = communicator
        writes = communicator.isLeader
        metrics = MetricsLog(path: store.path("metrics.jsonl"))
        windowStart = clock.now
        let (writes, metrics, store) = (self.writes, self.metrics, self.store)
        tensorboard = try communicator.agree {
            guard writes else { return nil }
            try metrics.open(keepingThrough: step)
            return try TensorBoardWriter(directory: store.directory)
        }
    }

    /// The first failed write of metrics.jsonl or the event file (rank 0), after which neither takes more.
    public var writeFailure: FileError? { metrics.failure ?? tensorboard?.failure }

    /// Closes the files.
    public func close() {
        tensorboard = nil
        metrics.close()
    }

    /// Training samples per second over the steps reported so far.
    public var samplesPerSecond: Double { Double(trainSamples) / max(trainSeconds, 1e-9) }

    /// The start-up line: model, data, batch, ranks and how their gradients travel, BLAS, deprecated keys.
    public func started(exchange: any GradientExchange, parameterCount: Int) {
        guard writes else { return }
        for note in configuration.deprecations { logger.warning("\(note)") }
        let kernels = BLASKernels.current
        if let warning = kernels.warning { logger.warning("\(warning)") }
        let ranks = communicator.size
        logger.info(
            "training \(configuration.architecture.describe)\(configuration.objective.isELBO ? "" : ", objective \(configuration.objective.describe)") on \(data.source): \(data.counts), global batch \(configuration.batchSize), \(communicator.ranksDescription)\(ranks > 1 ? " (gradient exchange: \(exchange.description))" : ""), BLAS threads \(BLAS.threadCount) (\(kernels)), \(parameterCount) parameters"
        )
    }

    /// The run starts from the weights of `path` (`--init-from`): a log line and a metrics record.
    public func initialized(from path: String, sha256: String, unused: [String]) {
        guard writes else { return }
        let skipped = unused.isEmpty ? "" : "; \(unused.count) other tensor(s) in the file not used"
        logger.info("initialized the model from \(path) (SHA-256 \(sha256.prefix(16))…; fresh Adam state\(skipped))")
        metrics.write(["type": "init_from", "global_step": 0, "path": path, "sha256": sha256, "unused_tensors": unused.count])
    }

    /// The run folder's record of this start, written by rank 0 (collective: every rank learns of a failed
    /// write): `config.json` (every setting in force, readable by `--config`), `run.json` (per start of the run:
    /// vae-dist's version and source revision, the command line, host, ranks, start time and step, and `origin`:
    /// where the parameters came from), and the hyperparameters for TensorBoard's HPARAMS tab.
    public func recordStart(origin: [String: Any], globalStep: Int) throws {
        let (writes, configuration, store, communicator) = (self.writes, self.configuration, self.store, self.communicator)
        let started = Date()
        let record: [String: Any] = [
            "vae_dist_version": BuildInfo.version, "source_revision": BuildInfo.revision,
            "command_line": CommandLine.arguments, "working_directory": FileManager.default.currentDirectoryPath,
            "host": ProcessInfo.processInfo.hostName, "ranks": communicator.size, "global_step": globalStep,
            "started_at": ISO8601DateFormatter().string(from: started), "pid": Int(getpid()),
            "blas_kernels": BLASKernels.current.record,
        ].merging(origin) { a, _ in a }
        try communicator.agree {
            guard writes else { return }
            try AtomicFile.write(Array(configuration.resolvedJSON.utf8), to: store.path("config.json"))
            // run.json: the build of the latest start on top, and every start of the run (a resume adds one).
            let path = store.path("run.json")
            var starts: [Any] = []
            if let bytes = try? SmallFile.read(path, limit: 1 << 20),
                let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
                let earlier = object["starts"] as? [Any]
            {
                starts = earlier
            }
            starts.append(record)
            let run: [String: Any] = [
                "vae_dist_version": BuildInfo.version, "source_revision": BuildInfo.revision, "starts": starts,
            ]
            try AtomicFile.write(Array((MetricsLog.json(run) + "\n").utf8), to: path)
        }
        guard writes else { return }
        var metricTags = ["epoch/train_loss", "train/loss"]
        if data.validation != nil { metricTags.append("validation/loss") }
        if data.test != nil { metricTags.append("test/loss") }
        if configuration.nllImportanceSamples > 0 { metricTags.append("test/nll") }
        tensorboard?.hyperparameters(
            configuration.resolvedValues.map { ($0.key, TensorBoardWriter.HyperparameterValue(json: $0.json)) },
            metrics: metricTags, startTime: started.timeIntervalSince1970)
    }

    /// The run reached its end (epochs, max steps or early stop): TensorBoard's session status SUCCESS.
    public func finished() {
        tensorboard?.sessionEnded(success: true)
    }

    /// A resume with `--fine-tune` changed these settings from the checkpoint's: a log line and a metrics record.
    public func fineTuned(_ changes: [TrainingConfiguration.SettingChange], globalStep: Int) {
        guard writes else { return }
        logger.info(
            "fine-tuning from step \(globalStep) with new settings: \(changes.map(\.description).joined(separator: "; "))")
        metrics.write([
            "type": "fine_tune", "global_step": globalStep,
            "changes": Dictionary(
                uniqueKeysWithValues: changes.map { ($0.key, ["checkpoint": $0.stored, "now": $0.requested]) }),
        ])
    }

    /// A new epoch's progress window starts (and the previous epoch's end — its validation and test passes, images
    /// and checkpoint — is timed, for the run's ETA).
    public func epochStarted() {
        if let start = epochEndStart { epochEndSeconds = (clock.now - start).seconds }
        epochEndStart = nil
        windowStart = clock.now
        windowSamples = 0
    }

    /// A step finished in `seconds` with global loss sums `terms`; every `log_every` steps (and at the epoch's
    /// end) a progress line, a metrics record and the TensorBoard scalars.
    public func stepFinished(
        _ terms: LossTerms, seconds: Double, position: TrainingPosition, stepsPerEpoch total: Int,
        lastStep: Int, learningRate: Float, klWeight: Float, gradientNorm: Double? = nil
    ) {
        trainSeconds += seconds
        trainSamples += terms.samples
        windowSamples += terms.samples
        guard writes, position.stepInEpoch % configuration.logEvery == 0 || position.stepInEpoch == total else { return }
        let batch = configuration.batchSize
        let rate = Double(windowSamples) / max((clock.now - windowStart).seconds, 1e-9)
        // The run's ETA: its remaining steps at this window's rate, plus each epoch end still to come at the last
        // one's duration; and the epoch's.
        let pendingEpochEnds = max(0, lastStep / total - position.epoch)
        let eta =
            Double(lastStep - position.globalStep) * Double(batch) / max(rate, 1e-9) + Double(pendingEpochEnds) * epochEndSeconds
        let epochETA = Double(total - position.stepInEpoch) * Double(batch) / max(rate, 1e-9)
        let seen = min(position.stepInEpoch * batch, data.train.count)
        let mean = terms.perSample
        let epoch = position.epoch + 1
        logger.info(
            "\(String(format: "Train Epoch: %d [%d/%d (%.0f%%)]  Loss: %.6f  (recon %.4f, KL %.4f)  %.0f samples/s  ETA epoch %@, run %@", epoch, seen, data.train.count, 100 * Double(position.stepInEpoch) / Double(total), mean.loss, mean.reconstruction, mean.kl, rate, formatDuration(epochETA), formatDuration(eta)))"
        )
        var record: [String: Any] = [
            "type": "step", "epoch": epoch, "step": position.stepInEpoch, "global_step": position.globalStep,
            "loss": mean.loss, "reconstruction": mean.reconstruction, "kl": mean.kl, "samples_per_second": rate,
            "learning_rate": Double(learningRate), "kl_weight": Double(klWeight),
        ]
        if let gradientNorm { record["grad_norm"] = gradientNorm }  // before clipping
        metrics.write(record)
        if let tensorboard {
            let step = position.globalStep
            tensorboard.scalar("train/loss", mean.loss, step: step)
            tensorboard.scalar("train/reconstruction", mean.reconstruction, step: step)
            tensorboard.scalar("train/kl", mean.kl, step: step)
            tensorboard.scalar("train/learning_rate", Double(learningRate), step: step)
            tensorboard.scalar("train/kl_weight", Double(klWeight), step: step)
            if let gradientNorm { tensorboard.scalar("train/grad_norm", gradientNorm, step: step) }
            tensorboard.scalar("train/samples_per_second", rate, step: step)
        }
        windowStart = clock.now
        windowSamples = 0
        if position.stepInEpoch == total { epochEndStart = clock.now }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}
