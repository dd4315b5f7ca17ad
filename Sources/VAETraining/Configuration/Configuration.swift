import Foundation
import VAEDistributed
import VAEModel
import VAESettings

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
    /// Clip the summed gradient to this global L2 norm before each Adam step (0: off; see ``GradientClipper``).
    public var clipGradientNorm = 0.0
    /// The learning-rate schedule's name (see ``learningRateSchedule``).
    public var lrSchedule = ConstantRate.name
    /// The KL weight schedule's name (see ``klSchedule``).
    public var klScheduleName = ConstantWeight.name
    /// The training objective's name (see ``objective``).
    public var objectiveName = EvidenceLowerBound.name
    /// The values of the rooms' own settings: the schedules' and the likelihoods' (declared in their files).
    public var settings = SettingValues()

    /// The learning rate by global step.
    public var learningRateSchedule: LearningRateSchedule { LearningRateSchedule(name: lrSchedule, settings: settings)! }

    /// β by global step.
    public var klSchedule: KLSchedule { KLSchedule(name: klScheduleName, settings: settings)! }

    /// The training objective: the ELBO or the IWAE bound with its K.
    public var objective: Objective { Objective(name: objectiveName, settings: settings)! }

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
        // A file gives both layer lists or neither.
        if (config.architecture.encoderLayers == nil) != (config.architecture.decoderLayers == nil) { try config.checkLayers() }
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

    /// Settings the data decides when the configuration leaves them out: the MLP's `model.input_size` becomes the
    /// data's values per sample, a layer model's `model.input_shape` the data's sample shape (`[1, 28, 28]` for
    /// MNIST); then a layer model's shapes are checked against it (an error names the layer, before any allocation).
    public mutating func adapt(to data: DataSplits) throws {
        let given = givenKeys.contains("model.input_size") || givenKeys.contains("model.input_shape")
        if !given {
            if architecture.isShorthand {
                architecture.inputSize = data.train.pixelsPerImage
            } else {
                architecture.inputShape = data.train.sampleShape
            }
        }
        try checkLayers()
    }

    static let keysByName = Dictionary(uniqueKeysWithValues: keys.map { ($0.name, $0) })

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
}
