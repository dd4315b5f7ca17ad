import Foundation
import VAEModel

/// The configuration written out in full (every key with the value in force), its trajectory part, and what
/// `--resume` does with them:
/// the run folder's `config.json`, the checkpoint's `settings` metadata, and the adoption of a checkpoint's
/// settings under the user's explicit requests.
extension TrainingConfiguration {
    /// Every key (the deprecated exchange keys folded into `training.gradient_exchange`) as its JSON literal.
    /// Reading the result back (``parse(_:source:)``) gives the same settings.
    public var resolvedValues: [(key: String, json: String)] {
        func string(_ s: String) -> String { Safetensors.jsonString(s) }
        func list(_ xs: [Int]) -> String { "[" + xs.map(String.init).joined(separator: ",") + "]" }
        var values: [(String, String)] = [
            ("model.input_size", "\(architecture.inputSize)"),
            ("model.encoder_hidden", list(architecture.encoderHidden)),
            ("model.latent_size", "\(architecture.latentSize)"),
            ("model.decoder_hidden", list(architecture.decoderHidden)),
            ("model.activation", string(architecture.activation.rawValue)),
            ("model.likelihood", string(architecture.likelihood.name)),
        ]
        if case .gaussian(let variance) = architecture.likelihood {
            if case .fixed(let x) = variance {
                values.append(("model.gaussian_variance", "\(x)"))
            } else {
                values.append(("model.gaussian_variance", string("learned")))
            }
        }
        values += [
            ("training.epochs", "\(epochs)"), ("training.max_steps", maxSteps.map(String.init) ?? "null"),
            ("training.batch_size", "\(batchSize)"), ("training.learning_rate", "\(adam.learningRate)"),
            ("training.beta1", "\(adam.beta1)"), ("training.beta2", "\(adam.beta2)"),
            ("training.adam_epsilon", "\(adam.epsilon)"), ("training.kl_weight", "\(klWeight)"),
            ("training.seed", "\(seed)"), ("training.drop_last", "\(dropLast)"),
            ("training.early_stop_patience", "\(earlyStopPatience)"), ("training.clip_grad_norm", "\(clipGradientNorm)"),
            ("training.lr_schedule", string(lrSchedule)), ("training.lr_warmup_steps", "\(lrWarmupSteps)"),
            ("training.lr_decay_steps", lrDecaySteps.map(String.init) ?? "null"),
            ("training.lr_min_factor", "\(lrMinimumFactor)"), ("training.lr_step_every", "\(lrStepEvery)"),
            ("training.lr_step_factor", "\(lrStepFactor)"), ("training.kl_schedule", string(klScheduleName)),
            ("training.kl_warmup_steps", "\(klWarmupSteps)"), ("training.kl_cycle_steps", "\(klCycleSteps)"),
            ("training.kl_cycle_ratio", "\(klCycleRatio)"),
            ("training.gradient_exchange", string(gradientExchange.rawValue)),
            ("training.micro_batches", "\(microBatches)"),
            ("training.cross_node_compression", string(crossNodeCompression.rawValue)),
            ("training.cross_node_overlap", "\(crossNodeOverlap)"),
            ("data.source", string(dataSource)), ("data.binarization", string(binarization.rawValue)),
            ("data.standardize", "\(standardize)"), ("data.validation_fraction", "\(validationFraction)"),
            ("run.run_dir", string(runDirectory)), ("run.checkpoint_every", "\(checkpointEvery)"),
            ("run.keep_checkpoints", "\(keepCheckpoints)"), ("run.log_every", "\(logEvery)"),
            ("run.blas_threads", "\(blasThreads)"), ("run.threads", "\(threads)"),
            ("run.collective_timeout", "\(collectiveTimeout)"),
            ("run.divergence_check_every", "\(divergenceCheckEvery)"),
            ("run.nll_importance_samples", "\(nllImportanceSamples)"), ("run.nll_images", "\(nllImages)"),
        ]
        return values
    }

    /// The deprecated keys, which ``resolvedValues`` folds into `training.gradient_exchange`.
    static let deprecatedKeys: Set<String> = ["training.reduction", "training.sharded_optimizer", "training.overlap_allreduce"]

    /// ``resolvedValues`` as a configuration file (sections and keys sorted, two-space indent).
    public var resolvedJSON: String {
        let sections = Dictionary(grouping: resolvedValues) { String($0.key.prefix { $0 != "." }) }
        let body = sections.keys.sorted().map { section in
            let lines = sections[section]!.sorted { $0.key < $1.key }.map { entry in
                "    \(Safetensors.jsonString(String(entry.key.dropFirst(section.count + 1)))): \(entry.json)"
            }
            return "  \(Safetensors.jsonString(section)): {\n" + lines.joined(separator: ",\n") + "\n  }"
        }
        return "{\n" + body.joined(separator: ",\n") + "\n}\n"
    }

    /// One trajectory setting a resume would change: its key and its value in the checkpoint and as requested.
    public struct SettingChange: Equatable, Sendable, CustomStringConvertible {
        public let key: String
        public let stored: String
        public let requested: String
        public var description: String { "\(key): checkpoint \(stored), requested \(requested)" }
    }

    /// The trajectory settings (``trajectoryJSON``'s keys) whose values differ between `stored` and `self`.
    public func trajectoryChanges(from stored: String) -> [SettingChange] {
        TrainingConfiguration.changes(from: stored, to: trajectoryJSON)
    }

    /// The dotted keys whose values differ between two trajectory JSON texts, with both values, in key order.
    public static func changes(from old: String, to new: String) -> [SettingChange] {
        func flatten(_ text: String) -> [String: String] {
            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return [:] }
            var out: [String: String] = [:]
            for (section, value) in object {
                for (key, item) in (value as? [String: Any]) ?? [:] { out["\(section).\(key)"] = "\(item)" }
            }
            return out
        }
        let a = flatten(old), b = flatten(new)
        return Set(a.keys).union(b.keys).sorted().compactMap { key in
            a[key] == b[key] ? nil : SettingChange(key: key, stored: a[key] ?? "(not set)", requested: b[key] ?? "(not set)")
        }
    }

    /// The dotted keys whose values differ between two trajectory JSON texts.
    public static func differingKeys(_ a: String, _ b: String) -> [String] { changes(from: a, to: b).map(\.key) }

    /// What `--resume` runs with: these (a checkpoint's) settings, with the keys `requested` was explicitly given
    /// (by a file or a flag) taken from it; `training.epochs` and `training.max_steps` go together (either given:
    /// both from `requested`). `run.run_dir` stays the caller's business (the checkpoint's folder).
    public func adopting(_ requested: TrainingConfiguration) throws -> TrainingConfiguration {
        var adopted = self
        let values = Dictionary(uniqueKeysWithValues: requested.resolvedValues.map { ($0.key, $0.json) })
        var keys = requested.givenKeys.subtracting(TrainingConfiguration.deprecatedKeys)
        if !requested.givenKeys.isDisjoint(with: TrainingConfiguration.deprecatedKeys) {
            keys.insert("training.gradient_exchange")
        }
        // How long to train is stated anew as a whole: --epochs alone must not stop at the stored max_steps.
        let length: Set<String> = ["training.epochs", "training.max_steps"]
        if !keys.isDisjoint(with: length) { keys.formUnion(length) }
        // The likelihood's variance first: setting the likelihood reads it.
        for key in keys.sorted(by: {
            ($0 == "model.gaussian_variance" ? 0 : 1, $0) < ($1 == "model.gaussian_variance" ? 0 : 1, $1)
        }) {
            guard let json = values[key] else { continue }
            let value = try JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)
            try adopted.set(ConfigValue(key: key, value: value))
        }
        try adopted.validate()
        return adopted
    }
}

/// The settings that decide the trajectory: what a resume must keep and what the start-up agreement compares.
extension TrainingConfiguration {
    /// The settings that decide the training trajectory, as canonical JSON (sorted keys). Two runs with the
    /// same trajectory JSON, data and step produce the same bits; epochs, max_steps and the run settings may
    /// change across a resume.
    public var trajectoryJSON: String {
        var model: [(String, String)] = [
            ("activation", "\"\(architecture.activation.rawValue)\""),
            ("decoder_hidden", "[\(architecture.decoderHidden.map(String.init).joined(separator: ","))]"),
            ("encoder_hidden", "[\(architecture.encoderHidden.map(String.init).joined(separator: ","))]"),
            ("input_size", "\(architecture.inputSize)"),
            ("latent_size", "\(architecture.latentSize)"),
        ]
        model += architecture.likelihood.trajectoryFields
        let training: [(String, String)] =
            [
                ("adam_epsilon", "\(adam.epsilon)"), ("batch_size", "\(batchSize)"), ("beta1", "\(adam.beta1)"),
                ("beta2", "\(adam.beta2)"), ("drop_last", "\(dropLast)"), ("kl_weight", "\(klWeight)"),
                ("learning_rate", "\(adam.learningRate)"), ("seed", "\(seed)"),
                ("reduction", gradientExchange.definesTrajectory ? "\"exact\"" : "\"fast\""),
            ] + (gradientExchange.definesTrajectory ? [("micro_batches", "\(microBatches)")] : [])
            + (crossNodeCompression != .none ? [("cross_node_compression", "\"\(crossNodeCompression.rawValue)\"")] : [])
            + scheduleFields
        // Keys added after version 1 appear only when set, so earlier runs keep their hash and resume.
        let data: [(String, String)] =
            [("binarization", "\"\(binarization.rawValue)\"")] + (standardize ? [("standardize", "true")] : [])
            + (validationFraction > 0 ? [("validation_fraction", "\(validationFraction)")] : [])
        func object(_ pairs: [(String, String)]) -> String {
            "{" + pairs.sorted { $0.0 < $1.0 }.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
        }
        return "{\"data\":\(object(data)),\"model\":\(object(model)),\"training\":\(object(training))}"
    }

    /// The schedules' trajectory keys, present only when a schedule is not constant (earlier runs keep their hash).
    var scheduleFields: [(String, String)] {
        var fields: [(String, String)] = clipGradientNorm > 0 ? [("clip_grad_norm", "\(clipGradientNorm)")] : []
        switch learningRateSchedule {
        case .constant: break
        case .step(let every, let factor):
            fields += [("lr_schedule", "\"step\""), ("lr_step_every", "\(every)"), ("lr_step_factor", "\(factor)")]
        case .cosine(let warmup, let decay, let minimum):
            fields += [
                ("lr_schedule", "\"cosine\""), ("lr_warmup_steps", "\(warmup)"), ("lr_min_factor", "\(minimum)"),
                // Without lr_decay_steps the decay spans the run's epochs, which then decide the trajectory.
                decay.map { ("lr_decay_steps", "\($0)") } ?? ("epochs", "\(epochs)"),
            ]
        }
        switch klSchedule {
        case .constant: break
        case .linear(let warmup): fields += [("kl_schedule", "\"linear\""), ("kl_warmup_steps", "\(warmup)")]
        case .cyclical(let cycle, let ratio):
            fields += [("kl_schedule", "\"cyclical\""), ("kl_cycle_steps", "\(cycle)"), ("kl_cycle_ratio", "\(ratio)")]
        }
        return fields
    }

    /// SHA-256 of ``trajectoryJSON``.
    public var trajectoryHash: String { SHA256.hash(Array(trajectoryJSON.utf8)).hexString }
}
