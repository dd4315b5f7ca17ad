import Foundation
import VAEDistributed
import VAEModel

/// Everything that defines a training run. Read from a JSON file in Config/, then overridden by flags.
///
/// JSON layout (every key optional; defaults are the PyTorch MNIST VAE example):
/// ```json
/// { "model": { "input_size": 784, "encoder_hidden": [400], "latent_size": 20, "decoder_hidden": [400],
///              "activation": "relu", "likelihood": "bernoulli", "gaussian_variance": "learned" },
///   "training": { "epochs": 10, "max_steps": null, "batch_size": 128, "learning_rate": 0.001,
///                 "beta1": 0.9, "beta2": 0.999, "adam_epsilon": 1e-8, "kl_weight": 1.0, "seed": 1,
///                 "drop_last": false },
///   "data": { "source": "Data/mnist", "binarization": "none" },
///   "run": { "run_dir": "runs/default", "checkpoint_every": 0, "keep_checkpoints": 3, "log_every": 10,
///            "blas_threads": 0, "threads": 0 } }
/// ```
public struct TrainingConfiguration: Equatable, Sendable {
    public var architecture = Architecture.pytorchExample
    public var epochs = 10
    /// Stop after this many optimizer steps in total (nil: run all epochs).
    public var maxSteps: Int? = nil
    public var batchSize = 128
    public var adam = Adam.Hyperparameters()
    public var klWeight: Double = 1
    public var seed: UInt64 = 1
    /// Drop the last partial batch of each epoch (the PyTorch example keeps it).
    public var dropLast = false
    /// `synthetic`, a data file, a folder or a manifest (see ``DataSplits/load(_:)``).
    public var dataSource = "Data/mnist"
    public var binarization = Binarization.none
    /// Standardize float data per feature with the training set's mean and deviation (``Standardization``).
    public var standardize = false
    /// Hold out this seeded fraction of the training set as the validation set (0: none).
    public var validationFraction: Double = 0
    /// The run folder (`run.run_dir`, `--run-dir`); the CLI picks `runs/NAME/version_N` when it is not given.
    public var runDirectory = "runs/default"
    /// Checkpoint every this many steps (0: only at the end of each epoch and of the run).
    public var checkpointEvery = 0
    /// Checkpoints kept after rotation.
    public var keepCheckpoints = 3
    /// Progress line every this many steps.
    public var logEvery = 10
    /// OpenBLAS threads (0: OpenBLAS's default, all cores).
    public var blasThreads = 0
    /// Without mpirun: threads as the ranks of one node (0: auto, ``resolvedThreadCount(cores:launchedByMPI:)``).
    public var threads = 0
    /// Under MPI: a collective waiting longer than this many seconds ends the job, naming the operation and the
    /// step (0: no watchdog).
    public var collectiveTimeout: Double = 300
    /// Under MPI: every this many steps, compare a hash of the parameters across ranks and stop, naming the ranks
    /// that differ (0: off).
    public var divergenceCheckEvery = 0
    /// After each epoch, the importance-weighted test NLL with this many samples per image (0: off)…
    public var nllImportanceSamples = 0
    /// …on the first this many test images.
    public var nllImages = 1000
    /// Stop when the validation loss has not improved for this many epochs (0: never).
    public var earlyStopPatience = 0
    /// Clip the summed gradient to this global L2 norm before each Adam step (0: off; see ``GradientClipper``).
    public var clipGradientNorm = 0.0
    /// The learning-rate schedule's settings (see ``learningRateSchedule``).
    public var lrSchedule = "constant", lrWarmupSteps = 0, lrDecaySteps: Int? = nil, lrMinimumFactor = 0.0
    public var lrStepEvery = 1000, lrStepFactor = 0.5
    /// The KL weight schedule's settings (see ``klSchedule``).
    public var klScheduleName = "constant", klWarmupSteps = 1000, klCycleSteps = 1000, klCycleRatio = 0.5

    /// The learning rate by global step.
    public var learningRateSchedule: LearningRateSchedule {
        switch lrSchedule {
        case "step": return .step(every: lrStepEvery, factor: lrStepFactor)
        case "cosine": return .cosine(warmupSteps: lrWarmupSteps, decaySteps: lrDecaySteps, minimum: lrMinimumFactor)
        default: return .constant
        }
    }

    /// β by global step.
    public var klSchedule: KLSchedule {
        switch klScheduleName {
        case "linear": return .linear(warmupSteps: klWarmupSteps)
        case "cyclical": return .cyclical(cycleSteps: klCycleSteps, ratio: klCycleRatio)
        default: return .constant
        }
    }

    /// How gradients are summed across ranks and turned into an Adam step (see ``ExchangeStrategy``).
    public var gradientExchange = ExchangeStrategy.auto
    /// What a deprecated key (`training.reduction`, `training.sharded_optimizer`, `training.overlap_allreduce`)
    /// asked for; ``validate()`` folds it into ``gradientExchange``.
    var legacyExchange: ExchangeStrategy?
    /// One line per deprecated key that was read, naming its replacement (the trainer logs them).
    public private(set) var deprecations: [String] = []
    /// The node-shared exchange's cross-node hop: float32, or bfloat16 with error feedback (``CrossNodeCompression``).
    public var crossNodeCompression = CrossNodeCompression.none
    /// The node-shared exchange's hop between hosts overlapped with backward's second half (the same sums).
    public var crossNodeOverlap = false
    /// Micro-batches per global batch with the `exact` exchange (must divide the batch and be divisible by the
    /// rank count).
    public var microBatches = 8

    public init() {}

    /// The keys each section accepts (from ``keys``).
    static let knownKeys: [String: Set<String>] = Dictionary(
        grouping: keys.map { $0.name.split(separator: ".") },
        by: { String($0[0]) }
    ).mapValues { Set($0.map { String($0[1]) }) }

    /// Reads a JSON configuration file on top of the defaults.
    public static func load(path: String) throws -> TrainingConfiguration {
        let bytes: [UInt8]?
        do { bytes = try SmallFile.read(path, limit: 1 << 20) } catch let refused as SmallFile.Refused {
            throw ConfigurationError(key: path, problem: "\(refused.reason); a configuration is a JSON file of at most 1 MiB")
        }
        guard let bytes else {
            throw ConfigurationError(
                key: path,
                problem: "file not found; pass an existing file such as Config/mnist-pytorch-example.json")
        }
        return try parse(Data(bytes), source: path)
    }

    /// Parses JSON configuration text on top of the defaults.
    public static func parse(_ data: Data, source: String = "configuration") throws -> TrainingConfiguration {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw ConfigurationError(key: source, problem: "not valid JSON (\(error.localizedDescription))")
        }
        guard let root = object as? [String: Any] else {
            throw ConfigurationError(key: source, problem: "the top level must be a JSON object")
        }
        if let duplicate = JSONDuplicateKeys.first(in: [UInt8](data)) {
            throw ConfigurationError(key: duplicate, problem: "given twice in \(source); keep one")
        }
        var config = TrainingConfiguration()
        for (section, value) in root {
            guard let keys = knownKeys[section] else {
                throw ConfigurationError(key: section, problem: "unknown section; expected one of \(knownKeys.keys.sorted())")
            }
            guard let table = value as? [String: Any] else {
                throw ConfigurationError(key: section, problem: "must be an object")
            }
            for (key, item) in table {
                guard keys.contains(key) else {
                    throw ConfigurationError(key: "\(section).\(key)", problem: "unknown key; expected one of \(keys.sorted())")
                }
                try config.set(ConfigValue(key: "\(section).\(key)", value: item))
            }
        }
        try config.validate()
        return config
    }

    /// Sets one key from a JSON (or flag) value, checked as ``keys`` says.
    mutating func set(_ v: ConfigValue) throws {
        guard let key = TrainingConfiguration.keysByName[v.key] else { throw v.error("unknown key") }
        try key.apply(&self, v)
        givenKeys.insert(v.key)
    }

    /// The keys a file or a flag set (the rest are defaults).
    public private(set) var givenKeys: Set<String> = []

    /// Settings the data decides when the configuration leaves them out: `model.input_size` becomes the data's
    /// values per sample.
    public mutating func adapt(to data: DataSplits) {
        if !givenKeys.contains("model.input_size") { architecture.inputSize = data.train.pixelsPerImage }
    }

    static let keysByName = Dictionary(uniqueKeysWithValues: keys.map { ($0.name, $0) })

    /// Every configuration key, declared once: its dotted name, its type and range (the typed read of
    /// ``ConfigValue`` names the key in any error) and what it sets; how it is written to `config.json`
    /// (``resolvedValues``; none for the deprecated keys, which are folded into `training.gradient_exchange`); and
    /// what it adds to the trajectory JSON (``trajectoryJSON``: `.always` its written value, `.none`, or fields of
    /// its section that appear only when set, so earlier runs keep their hash). The file reader, the flags (which
    /// pass their values by key, see ``override(_:)``), `config.json`, the trajectory and the unknown-key messages
    /// all come from here.
    static let keys: [ConfigurationKey] = [
        .init("model.input_size", write: { "\($0.architecture.inputSize)" }, trajectory: .always) {
            $0.architecture.inputSize = try $1.integer(min: 1)
        },
        .init("model.encoder_hidden", write: { list($0.architecture.encoderHidden) }, trajectory: .always) {
            $0.architecture.encoderHidden = try $1.integers(min: 1)
        },
        .init("model.latent_size", write: { "\($0.architecture.latentSize)" }, trajectory: .always) {
            $0.architecture.latentSize = try $1.integer(min: 1)
        },
        .init("model.decoder_hidden", write: { list($0.architecture.decoderHidden) }, trajectory: .always) {
            $0.architecture.decoderHidden = try $1.integers(min: 1)
        },
        .init("model.activation", write: { string($0.architecture.activation.rawValue) }, trajectory: .always) {
            $0.architecture.activation = try $1.choice(Activation.self)
        },
        // The Gaussian's variance key may come before or after this one (see gaussianVariance); the likelihood
        // writes both into the trajectory.
        .init(
            "model.likelihood", write: { string($0.architecture.likelihood.name) },
            trajectory: .fields { $0.architecture.likelihood.trajectoryFields }
        ) {
            $0.architecture.likelihood = Likelihood(
                name: try $1.string(oneOf: Likelihood.names), gaussianVariance: $0.gaussianVariance)!
        },
        .init(
            "model.gaussian_variance",
            write: { config in
                guard case .gaussian(let variance) = config.architecture.likelihood else { return nil }
                if case .fixed(let x) = variance { return "\(x)" }
                return string("learned")
            }
        ) { config, v in
            if let s = v.value as? String, s == "learned" {
                config.gaussianVariance = .learned
                return
            }
            guard let x = v.value as? NSNumber, !isJSONBool(v.value), x.doubleValue > 0, x.doubleValue.isFinite else {
                throw v.error("must be \"learned\" or a positive number (a fixed variance)")
            }
            config.gaussianVariance = .fixed(try v.float(above: 0))
        },
        .init("training.epochs", write: { "\($0.epochs)" }) { $0.epochs = try $1.integer(min: 1) },
        .init("training.max_steps", write: { $0.maxSteps.map(String.init) ?? "null" }) {
            $0.maxSteps = $1.value is NSNull ? nil : try $1.integer(min: 1)
        },
        .init("training.batch_size", write: { "\($0.batchSize)" }, trajectory: .always) { $0.batchSize = try $1.integer(min: 1) },
        .init("training.learning_rate", write: { "\($0.adam.learningRate)" }, trajectory: .always) {
            $0.adam.learningRate = try $1.float(above: 0)
        },
        .init("training.beta1", write: { "\($0.adam.beta1)" }, trajectory: .always) {
            $0.adam.beta1 = Float(try $1.number(atLeast: 0, below: 1))
        },
        .init("training.beta2", write: { "\($0.adam.beta2)" }, trajectory: .always) {
            $0.adam.beta2 = Float(try $1.number(atLeast: 0, below: 1))
        },
        .init("training.adam_epsilon", write: { "\($0.adam.epsilon)" }, trajectory: .always) {
            $0.adam.epsilon = try $1.float(above: 0)
        },
        // Kept as given (the trajectory hash and the per-sample sums use the double); the step uses it as a float.
        .init("training.kl_weight", write: { "\($0.klWeight)" }, trajectory: .always) { config, v in
            _ = try v.float(atLeast: 0)
            config.klWeight = try v.number(atLeast: 0)
        },
        .init("training.seed", write: { "\($0.seed)" }, trajectory: .always) { $0.seed = UInt64(try $1.integer(min: 0)) },
        .init("training.early_stop_patience", write: { "\($0.earlyStopPatience)" }) {
            $0.earlyStopPatience = try $1.integer(min: 0)
        },
        .init(
            "training.clip_grad_norm", write: { "\($0.clipGradientNorm)" },
            trajectory: .fields { $0.clipGradientNorm > 0 ? [("clip_grad_norm", "\($0.clipGradientNorm)")] : [] }
        ) { config, v in
            _ = try v.float(atLeast: 0)
            config.clipGradientNorm = try v.number(atLeast: 0)
        },
        // The schedules write their settings' trajectory fields (only when not constant).
        .init(
            "training.lr_schedule", write: { string($0.lrSchedule) },
            trajectory: .fields { $0.learningRateSchedule.trajectoryFields(epochs: $0.epochs) }
        ) { $0.lrSchedule = try $1.string(oneOf: LearningRateSchedule.names) },
        .init("training.lr_warmup_steps", write: { "\($0.lrWarmupSteps)" }) { $0.lrWarmupSteps = try $1.integer(min: 0) },
        .init("training.lr_decay_steps", write: { $0.lrDecaySteps.map(String.init) ?? "null" }) {
            $0.lrDecaySteps = $1.value is NSNull ? nil : try $1.integer(min: 1)
        },
        .init("training.lr_min_factor", write: { "\($0.lrMinimumFactor)" }) {
            $0.lrMinimumFactor = try $1.number(atLeast: 0, below: 1)
        },
        .init("training.lr_step_every", write: { "\($0.lrStepEvery)" }) { $0.lrStepEvery = try $1.integer(min: 1) },
        .init("training.lr_step_factor", write: { "\($0.lrStepFactor)" }) { config, v in
            let x = try v.number(above: 0)
            guard x <= 1 else { throw v.error("must be in (0, 1], got \(x)") }
            config.lrStepFactor = x
        },
        .init(
            "training.kl_schedule", write: { string($0.klScheduleName) }, trajectory: .fields { $0.klSchedule.trajectoryFields }
        ) {
            $0.klScheduleName = try $1.string(oneOf: KLSchedule.names)
        },
        .init("training.kl_warmup_steps", write: { "\($0.klWarmupSteps)" }) { $0.klWarmupSteps = try $1.integer(min: 1) },
        .init("training.kl_cycle_steps", write: { "\($0.klCycleSteps)" }) { $0.klCycleSteps = try $1.integer(min: 1) },
        .init("training.kl_cycle_ratio", write: { "\($0.klCycleRatio)" }) { config, v in
            let x = try v.number(above: 0)
            guard x <= 1 else { throw v.error("must be in (0, 1], got \(x)") }
            config.klCycleRatio = x
        },
        .init("training.drop_last", write: { "\($0.dropLast)" }, trajectory: .always) { $0.dropLast = try $1.bool() },
        // Only the exact exchange changes the trajectory's bits; the trajectory names it as version 1 did.
        .init(
            "training.gradient_exchange", write: { string($0.gradientExchange.rawValue) },
            trajectory: .fields { [("reduction", $0.gradientExchange.definesTrajectory ? "\"exact\"" : "\"fast\"")] }
        ) { $0.gradientExchange = try $1.choice(ExchangeStrategy.self) },
        .init(
            "training.micro_batches", write: { "\($0.microBatches)" },
            trajectory: .fields { $0.gradientExchange.definesTrajectory ? [("micro_batches", "\($0.microBatches)")] : [] }
        ) { $0.microBatches = try $1.integer(min: 1) },
        .init(
            "training.cross_node_compression", write: { string($0.crossNodeCompression.rawValue) },
            trajectory: .fields {
                $0.crossNodeCompression != .none ? [("cross_node_compression", "\"\($0.crossNodeCompression.rawValue)\"")] : []
            }
        ) { $0.crossNodeCompression = try $1.choice(CrossNodeCompression.self) },
        .init("training.cross_node_overlap", write: { "\($0.crossNodeOverlap)" }) { $0.crossNodeOverlap = try $1.bool() },
        // Deprecated: one choice, training.gradient_exchange, replaces these three keys (never written).
        .init("training.reduction") { try $0.setLegacyExchange($1, asked: try $1.string(oneOf: ["fast", "exact"]) == "exact") },
        .init("training.sharded_optimizer") { try $0.setLegacyExchange($1, asked: try $1.bool()) },
        .init("training.overlap_allreduce") { try $0.setLegacyExchange($1, asked: try $1.bool()) },
        .init("data.source", write: { string($0.dataSource) }) { $0.dataSource = try $1.string() },
        .init("data.binarization", write: { string($0.binarization.rawValue) }, trajectory: .always) {
            $0.binarization = try $1.choice(Binarization.self)
        },
        .init(
            "data.standardize", write: { "\($0.standardize)" },
            trajectory: .fields { $0.standardize ? [("standardize", "true")] : [] }
        ) { $0.standardize = try $1.bool() },
        .init(
            "data.validation_fraction", write: { "\($0.validationFraction)" },
            trajectory: .fields { $0.validationFraction > 0 ? [("validation_fraction", "\($0.validationFraction)")] : [] }
        ) { $0.validationFraction = try $1.number(atLeast: 0, below: 1) },
        .init("run.run_dir", write: { string($0.runDirectory) }) { $0.runDirectory = try $1.string() },
        .init("run.checkpoint_every", write: { "\($0.checkpointEvery)" }) { $0.checkpointEvery = try $1.integer(min: 0) },
        .init("run.keep_checkpoints", write: { "\($0.keepCheckpoints)" }) { $0.keepCheckpoints = try $1.integer(min: 1) },
        .init("run.log_every", write: { "\($0.logEvery)" }) { $0.logEvery = try $1.integer(min: 1) },
        .init("run.blas_threads", write: { "\($0.blasThreads)" }) { $0.blasThreads = try $1.integer(min: 0) },
        .init("run.threads", write: { "\($0.threads)" }) { $0.threads = try $1.integer(min: 0) },
        .init("run.collective_timeout", write: { "\($0.collectiveTimeout)" }) {
            $0.collectiveTimeout = try $1.number(atLeast: 0)
        },
        .init("run.divergence_check_every", write: { "\($0.divergenceCheckEvery)" }) {
            $0.divergenceCheckEvery = try $1.integer(min: 0)
        },
        .init("run.nll_importance_samples", write: { "\($0.nllImportanceSamples)" }) {
            $0.nllImportanceSamples = try $1.integer(min: 0)
        },
        .init("run.nll_images", write: { "\($0.nllImages)" }) { $0.nllImages = try $1.integer(min: 1) },
    ]

    /// A deprecated exchange key: what it asks for, folded into ``gradientExchange`` by ``validate()``.
    mutating func setLegacyExchange(_ v: ConfigValue, asked: Bool) throws {
        let strategy = ExchangeStrategy.legacy(key: v.key)!
        if asked, let previous = legacyExchange, previous != strategy {
            throw v.error(
                "asks for \(strategy.rawValue), but another deprecated key asks for \(previous.rawValue); set training.gradient_exchange alone"
            )
        }
        guard asked else {
            // `false` / "fast" takes back what an earlier source of settings asked for with this key.
            if legacyExchange == strategy { legacyExchange = nil }
            if gradientExchange == strategy { gradientExchange = .auto }
            return
        }
        legacyExchange = strategy
        let note =
            "configuration key '\(v.key)' is deprecated and will be removed; use training.gradient_exchange: \"\(strategy.rawValue)\" (--gradient-exchange \(strategy.rawValue))"
        if !deprecations.contains(note) { deprecations.append(note) }
    }

    /// A Gaussian likelihood's variance setting, kept when the likelihood key comes after it.
    var gaussianVariance: GaussianVariance = .learned {
        didSet { if case .gaussian = architecture.likelihood { architecture.likelihood = .gaussian(gaussianVariance) } }
    }
}
