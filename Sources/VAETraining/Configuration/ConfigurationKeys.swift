import Foundation
import VAEDistributed
import VAEModel
import VAESettings

extension TrainingConfiguration {
    /// Every configuration key, declared once (see ``ConfigurationKey``): its dotted name and help line, its flag if
    /// it has one, its type and range (the typed read of ``ConfigValue`` names the key in any error), how it is
    /// written to `config.json` (``resolvedValues``; none for the deprecated keys, which are folded into
    /// `training.gradient_exchange`) and what it adds to the trajectory JSON (``trajectoryJSON``: `.always` its
    /// written value, `.none`, or fields of its section that appear only when set, so earlier runs keep their hash).
    /// The rooms' own settings come from their registries (``LearningRateSchedule/kinds``, ``KLSchedule/kinds``,
    /// ``Objective/kinds``, ``Likelihood/kinds``, ``Prior/kinds``). The file reader, `--set`, the flags and `--help`, `config.json`, the trajectory, the
    /// README's key table and the unknown-key messages all come from here.
    static let keys: [ConfigurationKey] =
        modelKeys + trainingKeys + LearningRateSchedule.settings.map { ConfigurationKey(setting: $0) }
        + KLSchedule.settings.map { ConfigurationKey(setting: $0) } + Objective.settings.map { ConfigurationKey(setting: $0) }
        + exchangeKeys + dataKeys + runKeys + settingKeys
}

/// Keys declared as a ``Setting`` beside the one place that reads them, one line each here.
private let settingKeys: [ConfigurationKey] = [
    ConfigurationKey(setting: EarlyStopping.patience.erased),
    ConfigurationKey(setting: ImageLayout.setting.erased, inTrajectory: true),
    ConfigurationKey(setting: TrainingBatches.flip.erased, inTrajectory: true),
    ConfigurationKey(setting: ImageFolder.imageSize.erased, inTrajectory: true),
    ConfigurationKey(setting: ImageFolder.crop.erased, inTrajectory: true),
    ConfigurationKey(setting: ImageFolder.cacheDirectory.erased),
    ConfigurationKey(setting: ImageFolder.skipBadImages.erased),
]

/// The defaults, for the flags' help.
let d = TrainingConfiguration()

private let trainingKeys: [ConfigurationKey] = [
    .init(
        "training.epochs", help: "epochs in total; a resumed run continues up to this count",
        flag: .init(
            "epochs", value: "N",
            help: "Epochs to train in total; a resumed run continues up to this count (default: \(d.epochs))."),
        write: { "\($0.epochs)" }
    ) { $0.epochs = try $1.integer(min: 1) },
    .init(
        "training.max_steps", help: "stop after this many optimizer steps in total (null: all epochs)",
        flag: .init("max-steps", value: "N", help: "Stop after this many optimizer steps in total (default: none, all epochs)."),
        write: { $0.maxSteps.map(String.init) ?? "null" }
    ) { $0.maxSteps = $1.value is NSNull ? nil : try $1.integer(min: 1) },
    .init(
        "training.batch_size", help: "the global batch, over all ranks",
        flag: .init("batch-size", value: "N", help: "Global batch size, over all ranks (default: \(d.batchSize))."),
        write: { "\($0.batchSize)" }, trajectory: .always
    ) { $0.batchSize = try $1.integer(min: 1) },
    .init(
        "training.learning_rate", help: "Adam's learning rate",
        flag: .init("learning-rate", help: "Adam learning rate (default: \(d.adam.learningRate))."),
        write: { "\($0.adam.learningRate)" }, trajectory: .always
    ) { $0.adam.learningRate = try $1.float(above: 0) },
    .init("training.beta1", help: "Adam's β₁", write: { "\($0.adam.beta1)" }, trajectory: .always) {
        $0.adam.beta1 = Float(try $1.number(atLeast: 0, below: 1))
    },
    .init("training.beta2", help: "Adam's β₂", write: { "\($0.adam.beta2)" }, trajectory: .always) {
        $0.adam.beta2 = Float(try $1.number(atLeast: 0, below: 1))
    },
    .init("training.adam_epsilon", help: "Adam's ε", write: { "\($0.adam.epsilon)" }, trajectory: .always) {
        $0.adam.epsilon = try $1.float(above: 0)
    },
    // Kept as given (the trajectory hash and the per-sample sums use the double); the step uses it as a float.
    .init("training.kl_weight", help: "β, the KL term's weight (β-VAE)", write: { "\($0.klWeight)" }, trajectory: .always) {
        config, v in
        _ = try v.float(atLeast: 0)
        config.klWeight = try v.number(atLeast: 0)
    },
    .init(
        "training.seed", help: "the seed of every random stream",
        flag: .init(
            "seed", value: "N",
            help: "Seed of every random stream: initialization, data order, ε, binarization (default: \(d.seed))."),
        write: { "\($0.seed)" }, trajectory: .always
    ) { $0.seed = UInt64(try $1.integer(min: 0)) },
    .init(
        "training.clip_grad_norm", help: "clip the summed gradient to this global L2 norm (0: off)",
        write: { "\($0.clipGradientNorm)" },
        trajectory: .fields { $0.clipGradientNorm > 0 ? [("clip_grad_norm", "\($0.clipGradientNorm)")] : [] }
    ) { config, v in
        _ = try v.float(atLeast: 0)
        config.clipGradientNorm = try v.number(atLeast: 0)
    },
    // The schedules write their settings' trajectory fields (only when not constant).
    .init(
        "training.lr_schedule", help: "the learning rate by step: " + LearningRateSchedule.names.joined(separator: ", "),
        write: { jsonText($0.lrSchedule) }, trajectory: .fields { $0.learningRateSchedule.trajectoryFields(epochs: $0.epochs) }
    ) { $0.lrSchedule = try $1.string(oneOf: LearningRateSchedule.names) },
    .init(
        "training.kl_schedule", help: "β by step: " + KLSchedule.names.joined(separator: ", "),
        write: { jsonText($0.klScheduleName) }, trajectory: .fields { $0.klSchedule.trajectoryFields }
    ) { $0.klScheduleName = try $1.string(oneOf: KLSchedule.names) },
    // The objective writes its settings' trajectory fields (none for the ELBO).
    .init(
        "training.objective", help: "what training minimizes: " + Objective.names.joined(separator: ", "),
        flag: .init(
            "objective", .text, value: Objective.names.joined(separator: "|"),
            help: "The bound training maximizes: elbo, or iwae with training.samples K (default: elbo)."),
        write: { jsonText($0.objectiveName) }, trajectory: .fields { $0.objective.trajectoryFields }
    ) { $0.objectiveName = try $1.string(oneOf: Objective.names) },
    .init(
        "training.drop_last", help: "drop each epoch's last partial batch", write: { "\($0.dropLast)" }, trajectory: .always
    ) { $0.dropLast = try $1.bool() },
]

private let exchangeKeys: [ConfigurationKey] = [
    // Only the exact exchange changes the trajectory's bits; the trajectory names it as version 1 did.
    .init(
        "training.gradient_exchange",
        help: "how gradients are summed: " + ExchangeStrategy.allCases.map(\.rawValue).joined(separator: ", "),
        flag: .init(
            "gradient-exchange", .text, value: ExchangeStrategy.allCases.map(\.rawValue).joined(separator: "|"),
            help:
                "How gradients are summed across ranks and Adam steps (default: auto, node-shared under mpirun where it applies, else allreduce)."
        ),
        write: { jsonText($0.gradientExchange.rawValue) },
        trajectory: .fields { [("reduction", $0.gradientExchange.definesTrajectory ? "\"exact\"" : "\"fast\"")] }
    ) { $0.gradientExchange = try $1.choice(ExchangeStrategy.self) },
    .init(
        "training.micro_batches", help: "micro-batches per global batch with the exact exchange",
        flag: .init(
            "micro-batches", value: "N",
            help: "Micro-batches per global batch with --gradient-exchange exact (default: \(d.microBatches)).", inBench: true),
        write: { "\($0.microBatches)" },
        trajectory: .fields { $0.gradientExchange.definesTrajectory ? [("micro_batches", "\($0.microBatches)")] : [] }
    ) { $0.microBatches = try $1.integer(min: 1) },
    .init(
        "training.cross_node_compression", help: "node-shared's hop between hosts: none or bf16 (with error feedback)",
        write: { jsonText($0.crossNodeCompression.rawValue) },
        trajectory: .fields {
            $0.crossNodeCompression != .none ? [("cross_node_compression", "\"\($0.crossNodeCompression.rawValue)\"")] : []
        }
    ) { $0.crossNodeCompression = try $1.choice(CrossNodeCompression.self) },
    .init(
        "training.cross_node_overlap", help: "overlap node-shared's hop between hosts with backward",
        write: { "\($0.crossNodeOverlap)" }
    ) { $0.crossNodeOverlap = try $1.bool() },
    // Deprecated: one choice, training.gradient_exchange, replaces these three keys (never written).
    .init(
        "training.reduction", help: "deprecated: gradient_exchange exact",
        flag: .init("reduction", .text, value: "fast|exact", help: "Deprecated: --gradient-exchange exact.", hidden: true)
    ) { try $0.setLegacyExchange($1, asked: try $1.string(oneOf: ["fast", "exact"]) == "exact") },
    .init(
        "training.sharded_optimizer", help: "deprecated: gradient_exchange sharded-adam",
        flag: .init("sharded-optimizer", .switchOn, help: "Deprecated: --gradient-exchange sharded-adam.", hidden: true)
    ) { try $0.setLegacyExchange($1, asked: try $1.bool()) },
    .init(
        "training.overlap_allreduce", help: "deprecated: gradient_exchange allreduce-overlapped",
        flag: .init("overlap-allreduce", .switchOn, help: "Deprecated: --gradient-exchange allreduce-overlapped.", hidden: true)
    ) { try $0.setLegacyExchange($1, asked: try $1.bool()) },
]

private let dataKeys: [ConfigurationKey] = [
    .init(
        "data.source", help: "a folder, an .npy or IDX file, a .json manifest, or synthetic",
        flag: .init(
            "data", .text, value: "PATH",
            help:
                "The data: a folder (MNIST's IDX files, train.npy/test.npy, or train/ test/ folders of shards), an .npy or IDX file (.gz too), a .json manifest, or 'synthetic' (default: \(d.dataSource); bench's: synthetic). See \"Your own data\" in the README.",
            inBench: true),
        write: { jsonText($0.dataSource) }
    ) { $0.dataSource = try $1.string() },
    .init(
        "data.binarization", help: "none (grey levels), dynamic or static",
        flag: .init(
            "binarization", .text, value: Binarization.allCases.map(\.rawValue).joined(separator: "|"),
            help: "Binarization of the pixels: none (grey levels), dynamic or static (default: \(d.binarization.rawValue))."),
        write: { jsonText($0.binarization.rawValue) }, trajectory: .always
    ) { $0.binarization = try $1.choice(Binarization.self) },
    .init(
        "data.standardize", help: "standardize float data per feature (the training set's mean and deviation)",
        flag: .init(
            "standardize", .switchOn,
            help: "Standardize float data per feature (training set's mean and deviation; stored in the checkpoint)."),
        write: { "\($0.standardize)" }, trajectory: .fields { $0.standardize ? [("standardize", "true")] : [] }
    ) { $0.standardize = try $1.bool() },
    .init(
        "data.validation_fraction", help: "hold out this seeded fraction of the training set for validation",
        flag: .init(
            "validation-fraction", value: "F",
            help: "Hold out this seeded fraction of the training set as the validation set, 0 ≤ F < 1 (default: 0, none)."),
        write: { "\($0.validationFraction)" },
        trajectory: .fields { $0.validationFraction > 0 ? [("validation_fraction", "\($0.validationFraction)")] : [] }
    ) { $0.validationFraction = try $1.number(atLeast: 0, below: 1) },
]

private let runKeys: [ConfigurationKey] = [
    .init(
        "run.run_dir", help: "the run folder",
        flag: .init(
            "run-dir", .text, value: "DIR",
            help:
                "The run folder: checkpoints, latest/best pointers, metrics.jsonl, config.json, run.json, events (default: a new runs/NAME/version_N, NAME: the --config file's name or 'default')."
        ),
        write: { jsonText($0.runDirectory) }
    ) { $0.runDirectory = try $1.string() },
    .init(
        "run.checkpoint_every", help: "also checkpoint every this many steps (0: at epoch ends and the stop)",
        flag: .init(
            "checkpoint-every", value: "N",
            help:
                "Also checkpoint every this many steps; 0: only at epoch ends and at the stop (default: \(d.checkpointEvery))."),
        write: { "\($0.checkpointEvery)" }
    ) { $0.checkpointEvery = try $1.integer(min: 0) },
    .init(
        "run.keep_checkpoints", help: "checkpoints kept after rotation, besides the best",
        flag: .init(
            "keep-checkpoints", value: "N",
            help: "Checkpoints kept after rotation, besides the best (default: \(d.keepCheckpoints))."),
        write: { "\($0.keepCheckpoints)" }
    ) { $0.keepCheckpoints = try $1.integer(min: 1) },
    .init(
        "run.log_every", help: "a progress line every this many steps",
        flag: .init("log-every", value: "N", help: "Print a progress line every this many steps (default: \(d.logEvery))."),
        write: { "\($0.logEvery)" }
    ) { $0.logEvery = try $1.integer(min: 1) },
    .init(
        "run.blas_threads", help: "OpenBLAS threads per rank (0: OpenBLAS's default, all cores)",
        flag: .init(
            "blas-threads", value: "N",
            help:
                "OpenBLAS threads per rank (default: all cores, 0, when training on one thread; with several threads and in bench: 1).",
            inBench: true),
        write: { "\($0.blasThreads)" }
    ) { $0.blasThreads = try $1.integer(min: 0) },
    .init(
        "run.threads", help: "threads as the ranks of one node (0: chosen by the run)",
        flag: .init(
            "threads", value: "N",
            help:
                "Train on this many threads, each a rank of one node (node-shared: the same bits as mpirun -n N); under mpirun, in each rank (hybrid: each rank a node of N) (default: train's: the cores available that divide the batch into 32 rows or more, 1 with --blas-threads or under mpirun, a resumed run's own count; bench's: 1). Each thread takes its rows of every batch with one BLAS thread; their gradients are summed in a fixed order.",
            inBench: true),
        write: { "\($0.threads)" }
    ) { $0.threads = try $1.integer(min: 0) },
    .init(
        "run.collective_timeout", help: "under MPI: end the job when a collective waits this many seconds (0: off)",
        flag: .init(
            "collective-timeout", value: "SECONDS",
            help:
                "Under MPI: end the job when a collective waits longer than this many seconds; 0: off (default: \(Int(d.collectiveTimeout)))."
        ),
        write: { "\($0.collectiveTimeout)" }
    ) { $0.collectiveTimeout = try $1.number(atLeast: 0) },
    .init(
        "run.divergence_check_every", help: "under MPI: compare parameter hashes across ranks every this many steps (0: off)",
        flag: .init(
            "divergence-check-every", value: "N",
            help:
                "Under MPI: compare parameter hashes across ranks every this many steps; 0: off (default: \(d.divergenceCheckEvery))."
        ),
        write: { "\($0.divergenceCheckEvery)" }
    ) { $0.divergenceCheckEvery = try $1.integer(min: 0) },
    .init(
        "run.nll_importance_samples", help: "the importance-weighted test NLL after each epoch with K samples (0: off)",
        write: { "\($0.nllImportanceSamples)" }
    ) { $0.nllImportanceSamples = try $1.integer(min: 0) },
    .init("run.nll_images", help: "…on the first this many test images", write: { "\($0.nllImages)" }) {
        $0.nllImages = try $1.integer(min: 1)
    },
]

/// A value as a JSON literal, for the keys' `config.json` writers: a string (quoted and escaped) or a list of integers.
func jsonText(_ s: String) -> String { jsonLiteral(s) }
func jsonText(_ xs: [Int]) -> String { "[" + xs.map(String.init).joined(separator: ",") + "]" }
