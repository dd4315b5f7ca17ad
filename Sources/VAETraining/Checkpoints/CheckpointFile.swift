import Foundation
import VAEDistributed
import VAEModel

/// A checkpoint's bytes as every rank of a job has them — rank 0 reads the file and broadcasts it, so every rank
/// checks the same bytes and agrees on any error — and the one way `train --resume`, `eval` and `sample` load a
/// model from them.
public struct CheckpointFile {
    /// The file (rank 0's path; the other ranks never open it).
    public let path: String
    /// How messages name it on this rank.
    public let name: String
    /// The whole file.
    public let bytes: [UInt8]

    /// Collective: rank 0 resolves `source` (`latest` through `store`'s pointer) and reads it; every rank gets
    /// the bytes.
    public static func read(
        _ source: ResumeSource, store: CheckpointStore? = nil, communicator: Communicator
    ) throws -> CheckpointFile {
        let (path, bytes) = try communicator.agree { () throws -> (String, [UInt8]?) in
            guard communicator.isLeader else { return ("", nil) }
            let path: String
            if case .path(let p) = source {
                path = p
            } else {
                guard let store, let p = try source.path(in: store) else {
                    throw TrainerError.nothingToResume(directory: store?.directory ?? ".")
                }
                path = p
            }
            return (path, try CheckpointFile.readChecked(path).bytes)
        }
        let shared = communicator.broadcast(bytes: bytes)
        return CheckpointFile(path: path, name: communicator.isLeader ? path : "the checkpoint rank 0 read", bytes: shared)
    }

    /// Collective: the settings the checkpoint `source` names was trained with (see
    /// ``Checkpoint/storedSettings(_:path:)``), read from its header alone by rank 0 and shared with every rank.
    public static func storedSettings(
        _ source: ResumeSource, store: CheckpointStore, communicator: Communicator
    ) throws -> TrainingConfiguration {
        let (path, text) = try communicator.agree { () throws -> (String, [UInt8]?) in
            guard communicator.isLeader else { return ("", nil) }
            guard let path = try source.path(in: store) else { throw TrainerError.nothingToResume(directory: store.directory) }
            let metadata = try CheckpointFile.readChecked(path, headerOnly: true).metadata
            _ = try Checkpoint.storedSettings(metadata, path: path)  // every rank parses what rank 0 could
            return (path, Array(try JSONSerialization.data(withJSONObject: metadata)))
        }
        let shared = communicator.broadcast(bytes: text)
        return try communicator.agree {
            let metadata = try JSONSerialization.jsonObject(with: Data(shared)) as? [String: String] ?? [:]
            return try Checkpoint.storedSettings(metadata, path: communicator.isLeader ? path : "the checkpoint rank 0 read")
        }
    }

    /// The file's bytes, read only after its header has been checked against its size: a FIFO, device or folder
    /// is refused without blocking, and a huge file whose header does not describe it is refused after reading the
    /// header alone.
    static func readChecked(_ path: String, headerOnly: Bool = false) throws -> (bytes: [UInt8], metadata: [String: String]) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            if errno == ENOENT { throw CheckpointError.notFound(path: path) }
            throw CheckpointError.format(path: path, problem: "cannot be opened (\(String(cString: strerror(errno))))")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw CheckpointError.format(
                path: path, problem: "not a regular file (a folder, FIFO or device); pass a .safetensors file")
        }
        let size = Int(info.st_size)
        func read(_ count: Int, at offset: Int) throws -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: count)
            var done = 0
            while done < count {
                let n = bytes.withUnsafeMutableBytes {
                    pread(descriptor, $0.baseAddress! + done, count - done, off_t(offset + done))
                }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw CheckpointError.format(path: path, problem: "could not be read (it shrank or failed)") }
                done += n
            }
            return bytes
        }
        let first = try read(min(8, size), at: 0)
        let headerEnd = try Safetensors.headerEnd(first, fileSize: size, path: path)
        let prefix = first + (try read(headerEnd - 8, at: 8))
        let metadata = try Safetensors.decode(prefix: prefix, fileSize: size, path: path).metadata
        return (headerOnly ? prefix : try read(size, at: 0), metadata)
    }

    /// The configuration the checkpoint was trained with.
    public func storedConfiguration() throws -> TrainingConfiguration {
        try Checkpoint.storedConfiguration(bytes, path: name)
    }

    /// Decodes the parameters and Adam state into `exchange`'s model and optimizer. Where the exchange keeps one
    /// copy per node only its writing rank writes it; the others decode the same bytes into scratch, so every rank
    /// checks them alike. Not collective: once every rank has succeeded, `exchange.publish()` makes the writes
    /// visible.
    public func decode(into exchange: any GradientExchange) throws -> Checkpoint.Metadata {
        let layout = exchange.model.layout
        let parameters = exchange.writesState ? exchange.model.parameters : FlatBuffer(count: layout.count)
        let adam =
            exchange.writesState
            ? exchange.optimizer
            : Adam(parameterCount: layout.count, hyperparameters: exchange.optimizer.hyperparameters)
        let metadata = try Checkpoint.decode(bytes, path: name, layout: layout, parameters: parameters, adam: adam)
        exchange.optimizer.step = adam.step
        return metadata
    }
}

extension ResumeSource {
    /// The checkpoint file it names: a path as given, `latest` through `store`'s pointer (nil: no pointer).
    public func path(in store: CheckpointStore) throws -> String? {
        switch self {
        case .path(let path): return path
        case .latest: return try store.latest()
        }
    }
}

extension Checkpoint.Metadata {
    /// Checks that a checkpoint continues this run: the same trajectory settings (naming each key that differs
    /// with both values) unless `fineTune` allows changing them, and the same training data. Returns the changes
    /// a fine-tune makes.
    @discardableResult
    public func check(
        against configuration: TrainingConfiguration, data: DataSplits, path: String, fineTune: Bool = false
    ) throws -> [TrainingConfiguration.SettingChange] {
        let changes = configuration.trajectoryChanges(from: configurationJSON)
        guard changes.isEmpty || fineTune else { throw CheckpointError.configurationMismatch(path: path, changes: changes) }
        guard dataFingerprint == data.trainFingerprint else {
            throw CheckpointError.dataMismatch(path: path, checkpoint: dataFingerprint, current: data.trainFingerprint)
        }
        if let batch = changes.first(where: { $0.key == "training.batch_size" }), position.stepInEpoch > 0 {
            throw CheckpointError.format(
                path: path,
                problem:
                    "it stopped inside an epoch (step \(position.stepInEpoch)), where training.batch_size cannot change (\(batch)); fine-tune from an epoch-end checkpoint"
            )
        }
        return changes
    }
}

/// A model loaded from a checkpoint for `eval` and `sample`: the stored configuration, and an exchange built for
/// evaluation on this job's ranks (the test set split as the training run split it) holding the parameters.
public struct LoadedModel {
    public let configuration: TrainingConfiguration
    public let exchange: any GradientExchange
    public let metadata: Checkpoint.Metadata
    public var model: VariationalAutoencoder { exchange.model }

    /// Collective: reads `path` (rank 0) and builds the model it describes on every rank.
    public static func load(checkpoint path: String, communicator: Communicator) throws -> LoadedModel {
        let file = try CheckpointFile.read(.path(path), communicator: communicator)
        let (configuration, exchange, metadata) = try communicator.agree {
            () throws -> (TrainingConfiguration, any GradientExchange, Checkpoint.Metadata) in
            let configuration = try file.storedConfiguration()
            try configuration.checkFitsMemory()  // a crafted checkpoint must not make us allocate what cannot fit
            let strategy = configuration.gradientExchange.forEvaluation
            var settings = ExchangeSettings(configuration)
            settings.globalBatchSize = strategy.evaluationBatchSize(
                trainedWith: configuration.batchSize, ranks: communicator.size)
            let exchange = try strategy.make(communicator: communicator, settings: settings)
            return (configuration, exchange, try file.decode(into: exchange))
        }
        exchange.publish()
        return LoadedModel(configuration: configuration, exchange: exchange, metadata: metadata)
    }
}
