import Foundation
import VAEDistributed
import VAEModel

extension TrainingConfiguration {
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
        .init("model.encoder_hidden", write: { jsonText($0.architecture.encoderHidden) }, trajectory: .always) {
            $0.architecture.encoderHidden = try $1.integers(min: 1)
        },
        .init("model.latent_size", write: { "\($0.architecture.latentSize)" }, trajectory: .always) {
            $0.architecture.latentSize = try $1.integer(min: 1)
        },
        .init("model.decoder_hidden", write: { jsonText($0.architecture.decoderHidden) }, trajectory: .always) {
            $0.architecture.decoderHidden = try $1.integers(min: 1)
        },
        .init("model.activation", write: { jsonText($0.architecture.activation.rawValue) }, trajectory: .always) {
            $0.architecture.activation = try $1.choice(Activation.self)
        },
        // The Gaussian's variance key may come before or after this one (see gaussianVariance); the likelihood
        // writes both into the trajectory.
        .init(
            "model.likelihood", write: { jsonText($0.architecture.likelihood.name) },
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
                return jsonText("learned")
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
            "training.lr_schedule", write: { jsonText($0.lrSchedule) },
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
            "training.kl_schedule", write: { jsonText($0.klScheduleName) }, trajectory: .fields { $0.klSchedule.trajectoryFields }
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
            "training.gradient_exchange", write: { jsonText($0.gradientExchange.rawValue) },
            trajectory: .fields { [("reduction", $0.gradientExchange.definesTrajectory ? "\"exact\"" : "\"fast\"")] }
        ) { $0.gradientExchange = try $1.choice(ExchangeStrategy.self) },
        .init(
            "training.micro_batches", write: { "\($0.microBatches)" },
            trajectory: .fields { $0.gradientExchange.definesTrajectory ? [("micro_batches", "\($0.microBatches)")] : [] }
        ) { $0.microBatches = try $1.integer(min: 1) },
        .init(
            "training.cross_node_compression", write: { jsonText($0.crossNodeCompression.rawValue) },
            trajectory: .fields {
                $0.crossNodeCompression != .none ? [("cross_node_compression", "\"\($0.crossNodeCompression.rawValue)\"")] : []
            }
        ) { $0.crossNodeCompression = try $1.choice(CrossNodeCompression.self) },
        .init("training.cross_node_overlap", write: { "\($0.crossNodeOverlap)" }) { $0.crossNodeOverlap = try $1.bool() },
        // Deprecated: one choice, training.gradient_exchange, replaces these three keys (never written).
        .init("training.reduction") { try $0.setLegacyExchange($1, asked: try $1.string(oneOf: ["fast", "exact"]) == "exact") },
        .init("training.sharded_optimizer") { try $0.setLegacyExchange($1, asked: try $1.bool()) },
        .init("training.overlap_allreduce") { try $0.setLegacyExchange($1, asked: try $1.bool()) },
        .init("data.source", write: { jsonText($0.dataSource) }) { $0.dataSource = try $1.string() },
        .init("data.binarization", write: { jsonText($0.binarization.rawValue) }, trajectory: .always) {
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
        .init("run.run_dir", write: { jsonText($0.runDirectory) }) { $0.runDirectory = try $1.string() },
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
}

/// A value as a JSON literal, for the keys' `config.json` writers: a string (quoted and escaped) or a list of integers.
private func jsonText(_ s: String) -> String { Safetensors.jsonString(s) }
private func jsonText(_ xs: [Int]) -> String { "[" + xs.map(String.init).joined(separator: ",") + "]" }
