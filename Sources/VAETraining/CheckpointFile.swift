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
            switch source {
            case .path(let p): path = p
            case .latest:
                guard let store, let p = try store.latest() else {
                    throw TrainerError.nothingToResume(directory: store?.directory ?? ".")
                }
                path = p
            }
            return (path, try CheckpointFile.readChecked(path))
        }
        let shared = communicator.broadcast(bytes: bytes)
        return CheckpointFile(path: path, name: communicator.isLeader ? path : "the checkpoint rank 0 read", bytes: shared)
    }

    /// The file's bytes, read only after its header has been checked against its size: a FIFO, device or folder
    /// is refused without blocking, and a huge file whose header does not describe it is refused after reading the
    /// header alone.
    static func readChecked(_ path: String) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            if errno == ENOENT { throw CheckpointError.notFound(path: path) }
            throw CheckpointError.format(path: path, problem: "cannot be opened (\(String(cString: strerror(errno))))")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw CheckpointError.format(path: path, problem: "not a regular file (a folder, FIFO or device); pass a .safetensors file")
        }
        let size = Int(info.st_size)
        func read(_ count: Int, at offset: Int) throws -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: count)
            var done = 0
            while done < count {
                let n = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, count - done, off_t(offset + done)) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw CheckpointError.format(path: path, problem: "could not be read (it shrank or failed)") }
                done += n
            }
            return bytes
        }
        let first = try read(min(8, size), at: 0)
        let headerEnd = try Safetensors.headerEnd(first, fileSize: size, path: path)
        _ = try Safetensors.decode(prefix: first + read(headerEnd - 8, at: 8), fileSize: size, path: path)
        return try read(size, at: 0)
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

extension Checkpoint.Metadata {
    /// Checks that a checkpoint continues this run: the same trajectory settings (naming the keys that differ)
    /// and the same training data.
    public func check(against configuration: TrainingConfiguration, data: DataSplits, path: String) throws {
        let differing = TrainingConfiguration.differingKeys(configurationJSON, configuration.trajectoryJSON)
        guard differing.isEmpty else { throw CheckpointError.configurationMismatch(path: path, keys: differing) }
        guard dataFingerprint == data.trainFingerprint else {
            throw CheckpointError.dataMismatch(path: path, checkpoint: dataFingerprint, current: data.trainFingerprint)
        }
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
            settings.globalBatchSize = strategy.evaluationBatchSize(trainedWith: configuration.batchSize, ranks: communicator.size)
            let exchange = try strategy.make(communicator: communicator, settings: settings)
            return (configuration, exchange, try file.decode(into: exchange))
        }
        exchange.publish()
        return LoadedModel(configuration: configuration, exchange: exchange, metadata: metadata)
    }
}
