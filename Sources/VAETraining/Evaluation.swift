import Foundation
import VAEModel

extension TrainingConfiguration {
    /// Applies command-line overrides on top of a configuration, validating each as the file reader does.
    public mutating func override(data: String? = nil, epochs: Int? = nil, maxSteps: Int? = nil, batchSize: Int? = nil,
                                  learningRate: Float? = nil, seed: UInt64? = nil, binarization: String? = nil,
                                  runDirectory: String? = nil, checkpointEvery: Int? = nil, keepCheckpoints: Int? = nil,
                                  logEvery: Int? = nil, blasThreads: Int? = nil, batchPerRank: Int? = nil,
                                  shardedOptimizer: Bool? = nil, overlapAllReduce: Bool? = nil, reduction: String? = nil,
                                  microBatches: Int? = nil, collectiveTimeout: Double? = nil,
                                  divergenceCheckEvery: Int? = nil, worldSize: Int = 1) throws {
        let pairs: [(String, Any?)] = [
            ("data.source", data), ("training.epochs", epochs), ("training.max_steps", maxSteps),
            ("training.batch_size", batchSize), ("training.learning_rate", learningRate.map { Double($0) }),
            ("training.seed", seed.map { NSNumber(value: $0) }), ("data.binarization", binarization),
            ("run.run_dir", runDirectory), ("run.checkpoint_every", checkpointEvery),
            ("run.keep_checkpoints", keepCheckpoints), ("run.log_every", logEvery), ("run.blas_threads", blasThreads),
            ("training.sharded_optimizer", shardedOptimizer), ("training.overlap_allreduce", overlapAllReduce),
            ("training.reduction", reduction), ("training.micro_batches", microBatches),
            ("run.collective_timeout", collectiveTimeout), ("run.divergence_check_every", divergenceCheckEvery),
        ]
        // Weak scaling: a per-rank batch sets the global batch to per-rank × ranks.
        let perRank: [(String, Any?)] = [("training.batch_size", batchPerRank.map { $0 * worldSize })]
        for (key, value) in pairs + perRank {
            guard let value else { continue }
            let wrapped: Any = (value as? Int).map { NSNumber(value: $0) } ?? (value as? Double).map { NSNumber(value: $0) } ?? value
            try set(ConfigValue(key: key, value: wrapped))
        }
        try validate()
    }
}

/// Test-set evaluation of a checkpoint file.
public enum Evaluation {
    public struct Result: Sendable {
        public var loss: Double
        public var reconstruction: Double
        public var kl: Double
        public var samples: Int
        public var globalStep: Int
    }

    /// Rebuilds the model the checkpoint describes and returns its per-sample test −ELBO with the same fixed
    /// ε and binarization keys the trainer's epoch-end test pass uses, so the numbers agree exactly.
    public static func evaluate(checkpoint path: String, data: DataSplits,
                                communicator: Communicator = SingleProcessCommunicator()) throws -> Result {
        // Rank 0 reads; every rank decodes the same bytes, so all agree on any error.
        let read = try communicator.agree { () throws -> [UInt8]? in
            guard communicator.isLeader else { return nil }
            guard let bytes = FileManager.default.contents(atPath: path) else { throw CheckpointError.notFound(path: path) }
            return [UInt8](bytes)
        }
        let bytes = communicator.broadcast(bytes: read)
        let (trainer, stored) = try communicator.agree { () throws -> (Trainer, Checkpoint.Metadata) in
            let (_, metadata, _) = try Safetensors.decode(bytes, path: path)
            guard let json = metadata["config"] else {
                throw CheckpointError.format(path: path, problem: "metadata has no 'config'; not a vae-dist checkpoint")
            }
            var configuration = try TrainingConfiguration.parse(Data(json.utf8), source: "\(path) (stored config)")
            configuration.runDirectory = NSTemporaryDirectory()
            configuration.dataSource = data.source
            // Evaluate in the training run's chunks (its per-rank batch), so the sums group as in the trainer's
            // epoch-end test pass and the result is the same bits at the same rank count.
            let n = communicator.size
            if configuration.reduction == .fast { configuration.batchSize = (configuration.batchSize + n - 1) / n * n }
            let trainer = try Trainer(configuration: configuration, data: data, communicator: communicator)
            let stored = try Checkpoint.decode(bytes, path: path, layout: trainer.model.layout,
                                               parameters: trainer.model.parameters, adam: trainer.optimizer)
            return (trainer, stored)
        }
        let configuration = trainer.configuration
        let terms = trainer.evaluate(data.test)
        let n = Double(terms.samples)
        return Result(loss: terms.loss(klWeight: configuration.klWeight) / n, reconstruction: terms.reconstruction / n,
                      kl: terms.kl / n, samples: terms.samples, globalStep: stored.position.globalStep)
    }
}
