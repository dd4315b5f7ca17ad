import Foundation
import VAEModel

/// The checkpoint file: safetensors holding the model tensors under the PyTorch example's names
/// (`fc1.weight` …), Adam's moments as `adam.exp_avg.NAME` / `adam.exp_avg_sq.NAME`, and in `__metadata__`
/// the format version, Adam's step, the training position, the configuration and its hash, the training
/// data's fingerprint and a SHA-256 of the whole data section.
public enum Checkpoint {
    public static let format = "vae-dist-checkpoint"
    /// The standardization's tensors (present only when the run standardized its data).
    public static let meanTensor = "data.mean", deviationTensor = "data.std"
    public static let formatVersion = "1"

    /// What a checkpoint holds besides the tensors.
    public struct Metadata: Equatable, Sendable {
        public var position: TrainingPosition
        public var adamStep: Int
        public var configurationJSON: String
        public var dataFingerprint: String
        public var worldSize: Int
        /// The training set's standardization (`data.standardize`), stored as tensors `data.mean` and `data.std`.
        public var standardization: Standardization?
        /// Every setting of the run (``TrainingConfiguration/resolvedJSON``), which `--resume` adopts; nil in
        /// checkpoints written before it (they resume with their trajectory settings, `config`).
        public var settingsJSON: String?

        public init(
            position: TrainingPosition, adamStep: Int, configurationJSON: String, dataFingerprint: String, worldSize: Int,
            standardization: Standardization? = nil, settingsJSON: String? = nil
        ) {
            self.standardization = standardization
            self.settingsJSON = settingsJSON
            self.position = position
            self.adamStep = adamStep
            self.configurationJSON = configurationJSON
            self.dataFingerprint = dataFingerprint
            self.worldSize = worldSize
        }
    }

    /// The settings a checkpoint's run had (its `settings` metadata; for an older checkpoint its trajectory
    /// settings, `config`, on top of the defaults).
    public static func storedSettings(_ metadata: [String: String], path: String) throws -> TrainingConfiguration {
        guard metadata["format"] == format else {
            throw CheckpointError.format(
                path: path,
                problem:
                    "format is '\(metadata["format"] ?? "none")', not a vae-dist checkpoint; a plain weights file goes to --init-from"
            )
        }
        guard let json = metadata["settings"] else { return try storedConfiguration(metadata, path: path) }
        return try TrainingConfiguration.parse(Data(json.utf8), source: "\(path) (stored settings)")
    }

    /// The configuration a checkpoint was trained with (its `config` metadata), on top of the defaults.
    public static func storedConfiguration(_ bytes: [UInt8], path: String) throws -> TrainingConfiguration {
        try storedConfiguration(try Safetensors.decode(bytes, path: path).metadata, path: path)
    }

    static func storedConfiguration(_ metadata: [String: String], path: String) throws -> TrainingConfiguration {
        guard let json = metadata["config"] else {
            throw CheckpointError.format(path: path, problem: "metadata has no 'config'; not a vae-dist checkpoint")
        }
        return try TrainingConfiguration.parse(Data(json.utf8), source: "\(path) (stored config)")
    }

    /// Encodes parameters, Adam moments and metadata into safetensors bytes.
    public static func encode(layout: ParameterLayout, parameters: FlatBuffer, adam: Adam, metadata: Metadata) -> [UInt8] {
        var tensors: [(name: String, shape: [Int], data: UnsafeBufferPointer<Float>)] = []
        for (prefix, buffer) in [("", parameters), ("adam.exp_avg.", adam.firstMoment), ("adam.exp_avg_sq.", adam.secondMoment)] {
            for view in layout.tensors {
                tensors.append(
                    (
                        prefix + view.name, view.shape,
                        UnsafeBufferPointer(start: buffer.pointer(to: view), count: view.count)
                    ))
            }
        }
        var hasher = SHA256()
        for buffer in [parameters, adam.firstMoment, adam.secondMoment] {
            hasher.update(raw: UnsafeRawBufferPointer(start: buffer.pointer, count: buffer.count * 4))
        }
        // The standardization, copied into buffers that live until the bytes are written.
        let extra = metadata.standardization.map { [($0.mean, meanTensor), ($0.deviation, deviationTensor)] } ?? []
        let extraBuffers = extra.map { values, _ in
            let buffer = FlatBuffer(count: values.count)
            for i in values.indices { buffer.pointer[i] = values[i] }
            return buffer
        }
        for ((values, name), buffer) in zip(extra, extraBuffers) {
            tensors.append((name, [values.count], UnsafeBufferPointer(start: buffer.pointer, count: values.count)))
            hasher.update(raw: UnsafeRawBufferPointer(start: buffer.pointer, count: values.count * 4))
        }
        defer { withExtendedLifetime(extraBuffers) {} }
        let p = metadata.position
        var fields: [String: String] = [
            "format": format,
            "format_version": formatVersion,
            "data_sha256": hasher.finalize().hexString,
            "adam_step": "\(metadata.adamStep)",
            "global_step": "\(p.globalStep)",
            "epoch": "\(p.epoch)",
            "step_in_epoch": "\(p.stepInEpoch)",
            "epoch_loss_bits": String(p.epochTerms.loss.bitPattern, radix: 16),
            "epoch_reconstruction_bits": String(p.epochTerms.reconstruction.bitPattern, radix: 16),
            "epoch_kl_bits": String(p.epochTerms.kl.bitPattern, radix: 16),
            "epoch_samples": "\(p.epochTerms.samples)",
            "best_validation_bits": p.bestValidationLoss.map { String($0.bitPattern, radix: 16) } ?? "none",
            "best_epoch": "\(p.bestEpoch)",
            "config": metadata.configurationJSON,
            "config_sha256": SHA256.hash(Array(metadata.configurationJSON.utf8)).hexString,
            "dataset_sha256": metadata.dataFingerprint,
            "world_size": "\(metadata.worldSize)",
            "parameter_count": "\(layout.count)",
        ]
        if let settings = metadata.settingsJSON { fields["settings"] = settings }
        fields["metadata_sha256"] = metadataHash(fields)
        return Safetensors.encode(tensors: tensors, metadata: fields)
    }

    /// SHA-256 over every metadata field but itself (sorted `key=value` lines): the position, Adam's step and the
    /// epoch sums are checked like the tensors. (Checkpoints written before it have no such field and still load.)
    static func metadataHash(_ fields: [String: String]) -> String {
        let text = fields.keys.sorted().filter { $0 != "metadata_sha256" }.map { "\($0)=\(fields[$0]!)\n" }.joined()
        return SHA256.hash(Array(text.utf8)).hexString
    }

    /// Decodes checkpoint `bytes` into `parameters` and `adam` after checking format, checksum, finiteness and
    /// that every tensor matches `layout`. Nothing is written into the buffers unless every check passes.
    public static func decode(
        _ bytes: [UInt8], path: String, layout: ParameterLayout, parameters: FlatBuffer,
        adam: Adam
    ) throws -> Metadata {
        let (entries, metadata, dataStart) = try Safetensors.decode(bytes, path: path)
        func field(_ key: String) throws -> String {
            guard let value = metadata[key] else { throw CheckpointError.format(path: path, problem: "metadata has no '\(key)'") }
            return value
        }
        func integer(_ key: String) throws -> Int {
            guard let value = Int(try field(key)), value >= 0 else {
                throw CheckpointError.format(path: path, problem: "metadata '\(key)' is not a non-negative integer")
            }
            return value
        }
        func double(_ key: String) throws -> Double {
            guard let bits = UInt64(try field(key), radix: 16) else {
                throw CheckpointError.format(path: path, problem: "metadata '\(key)' is not a hexadecimal bit pattern")
            }
            return Double(bitPattern: bits)
        }
        guard try field("format") == format else {
            throw CheckpointError.format(path: path, problem: "format is '\(metadata["format"]!)', not a vae-dist checkpoint")
        }
        guard try field("format_version") == formatVersion else {
            throw CheckpointError.format(
                path: path,
                problem:
                    "format version \(metadata["format_version"]!) is not supported (this build reads version \(formatVersion))")
        }
        // Architecture: every expected tensor present with the right shape and dtype, nothing else.
        let prefixes = ["", "adam.exp_avg.", "adam.exp_avg_sq."]
        var expected: Set<String> = []
        for prefix in prefixes {
            for view in layout.tensors {
                let name = prefix + view.name
                expected.insert(name)
                guard let entry = entries[name] else { throw CheckpointError.missingTensor(path: path, tensor: name) }
                guard entry.shape == view.shape else {
                    throw CheckpointError.shapeMismatch(path: path, tensor: name, checkpoint: entry.shape, model: view.shape)
                }
                guard entry.dtype == "F32" else {
                    throw CheckpointError.format(path: path, problem: "tensor \(name) is \(entry.dtype), expected F32")
                }
            }
        }
        let standardized = entries[meanTensor] != nil || entries[deviationTensor] != nil
        if standardized {
            for name in [meanTensor, deviationTensor] {
                expected.insert(name)
                guard let entry = entries[name] else { throw CheckpointError.missingTensor(path: path, tensor: name) }
                guard entry.shape == [layout.architecture.inputSize], entry.dtype == "F32" else {
                    throw CheckpointError.shapeMismatch(
                        path: path, tensor: name, checkpoint: entry.shape, model: [layout.architecture.inputSize])
                }
            }
        }
        if let extra = entries.keys.sorted().first(where: { !expected.contains($0) }) {
            throw CheckpointError.unexpectedTensor(path: path, tensor: extra)
        }
        if let recorded = metadata["metadata_sha256"], recorded != metadataHash(metadata) {
            throw CheckpointError.format(
                path: path,
                problem: "metadata_sha256 does not match the metadata (position, Adam step, sums); the file was altered")
        }
        let stored = try field("data_sha256")
        let computed = SHA256.hash(bytes[dataStart...]).hexString
        guard stored == computed else { throw CheckpointError.checksum(path: path, stored: stored, computed: computed) }

        // Decode into scratch first so a bad value leaves the live buffers untouched.
        let scratch = (0..<3).map { _ in FlatBuffer(count: layout.count) }
        for (prefix, buffer) in zip(prefixes, scratch) {
            for view in layout.tensors {
                let name = prefix + view.name
                let range = entries[name]!.range
                let target = buffer.pointer(to: view)
                bytes.withUnsafeBytes { raw in
                    let base = raw.baseAddress! + dataStart + range.lowerBound
                    for i in 0..<view.count { target[i] = Safetensors.float32(base, i) }
                }
                if let bad = (0..<view.count).first(where: { !target[$0].isFinite }) {
                    throw CheckpointError.nonFinite(path: path, tensor: name, index: bad)
                }
            }
        }
        var standardization: Standardization?
        if standardized {
            let tensors = try [meanTensor, deviationTensor].map { name -> [Float] in
                let range = entries[name]!.range
                let values = bytes.withUnsafeBytes { raw in
                    (0..<layout.architecture.inputSize).map {
                        Safetensors.float32(raw.baseAddress! + dataStart + range.lowerBound, $0)
                    }
                }
                if let bad = values.firstIndex(where: { !$0.isFinite || (name == deviationTensor && $0 <= 0) }) {
                    throw CheckpointError.nonFinite(path: path, tensor: name, index: bad)
                }
                return values
            }
            standardization = Standardization(mean: tensors[0], deviation: tensors[1])
        }
        var position = TrainingPosition(
            globalStep: try integer("global_step"), epoch: try integer("epoch"), stepInEpoch: try integer("step_in_epoch"),
            epochTerms: LossTerms(
                reconstruction: try double("epoch_reconstruction_bits"), kl: try double("epoch_kl_bits"),
                samples: try integer("epoch_samples")))
        // Written since objectives other than the ELBO; before, the epoch's loss was the ELBO's two parts with β = 1
        // (the default; a β ≠ 1 run resumed from such a checkpoint reports its epoch's loss with β = 1 before it).
        position.epochTerms.loss =
            metadata["epoch_loss_bits"] != nil
            ? try double("epoch_loss_bits") : position.epochTerms.reconstruction + position.epochTerms.kl
        // Written since the best-checkpoint tracking; earlier checkpoints have no best yet.
        if let best = metadata["best_validation_bits"], best != "none" {
            position.bestValidationLoss = try double("best_validation_bits")
        }
        if metadata["best_epoch"] != nil { position.bestEpoch = try integer("best_epoch") }
        let result = Metadata(
            position: position, adamStep: try integer("adam_step"), configurationJSON: try field("config"),
            dataFingerprint: try field("dataset_sha256"), worldSize: try integer("world_size"), standardization: standardization,
            settingsJSON: metadata["settings"])
        guard SHA256.hash(Array(result.configurationJSON.utf8)).hexString == (try field("config_sha256")) else {
            throw CheckpointError.format(path: path, problem: "config_sha256 does not match the stored config")
        }
        parameters.copy(from: scratch[0])
        adam.firstMoment.copy(from: scratch[1])
        adam.secondMoment.copy(from: scratch[2])
        adam.step = result.adamStep
        return result
    }
}
