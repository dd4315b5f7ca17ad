import Foundation
import VAEModel

/// Importance-weighted NLL of a test set: −log p(x) per image, with its mean and standard error.
public struct ImportanceWeightedNLL: Sendable {
    /// Mean over images of −log p̂(x), in nats.
    public var nll: Double
    /// Standard error of that mean (sample standard deviation over images / √n).
    public var standardError: Double
    public var images: Int
    public var samples: Int
}

extension Trainer {
    /// −log p(x) for the first `images` test images by importance sampling with K = `samples` (ε keyed by
    /// (seed, image, k), so the estimate is the same at any rank count up to the float sum of per-image values);
    /// images are dealt round-robin to the ranks and the sums reduced.
    public func importanceWeightedNLL(_ dataset: ImageDataset, samples: Int, images: Int? = nil) -> ImportanceWeightedNLL {
        let n = min(images ?? dataset.count, dataset.count)
        let width = dataset.pixelsPerImage
        var x = [Float](repeating: 0, count: width)
        var scratchNoise = [Float](repeating: 0, count: model.layout.architecture.latentSize)
        var sums = [0.0, 0.0]
        let seed = configuration.seed
        for i in stride(from: communicator.rank, to: n, by: communicator.size) {
            // The image as the test pass sees it (grey levels or the fixed binarization).
            let index = [Int32(i)]
            x.withUnsafeMutableBufferPointer { xb in
                scratchNoise.withUnsafeMutableBufferPointer { nb in
                    index.withUnsafeBufferPointer { ib in
                        filler.fill(input: xb.baseAddress!, epsilon: nb.baseAddress!, latentSize: nb.count, dataset: dataset,
                                    indices: ib, epoch: 0, evaluation: true)
                    }
                }
            }
            let logLikelihood = x.withUnsafeBufferPointer { xb in
                model.importanceWeightedLogLikelihood(of: xb.baseAddress!, samples: samples) { k, destination in
                    var stream = RandomStream(seed: seed, purpose: .importanceSampling, epoch: UInt64(i), index: UInt64(k))
                    stream.fillStandardNormal(destination, count: model.layout.architecture.latentSize)
                }
            }
            sums[0] += -logLikelihood
            sums[1] += logLikelihood * logLikelihood
        }
        sums.withUnsafeMutableBufferPointer { communicator.allReduce($0, .sum) }
        let mean = sums[0] / Double(n)
        let variance = max(0, sums[1] / Double(n) - mean * mean) * Double(n) / Double(max(n - 1, 1))
        return ImportanceWeightedNLL(nll: mean, standardError: (variance / Double(n)).squareRoot(), images: n, samples: samples)
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
        /// With `importanceSamples`: the importance-weighted NLL.
        public var importanceWeighted: ImportanceWeightedNLL?
    }

    /// Rebuilds the model the checkpoint describes and returns its per-sample test −ELBO with the same fixed
    /// ε and binarization keys the trainer's epoch-end test pass uses, so the numbers agree exactly.
    /// Decodes `count` z of a checkpoint's model — z ~ N(0, I) keyed by `seed`, or the little-endian float32 rows of
    /// `latentFile` — and writes them as a PNG grid to `out` and/or as float32 means (`count × 784`) to `rawOut`.
    public static func sample(checkpoint path: String, count: Int, seed: UInt64, out: String?,
                              latentFile: String? = nil, rawOut: String? = nil) throws {
        let (trainer, _) = try load(checkpoint: path, data: DataSplits.synthetic(trainCount: 1, testCount: 1),
                                    communicator: SingleProcessCommunicator())
        let latentSize = trainer.model.layout.architecture.latentSize
        var latents = Trainer.priorSamples(count: count, latentSize: latentSize, seed: seed)
        if let latentFile {
            guard let data = FileManager.default.contents(atPath: latentFile), data.count == count * latentSize * 4 else {
                throw ImageError(path: latentFile, reason: "expected \(count) × \(latentSize) little-endian float32 values (\(count * latentSize * 4) bytes)")
            }
            latents = data.withUnsafeBytes { raw in (0..<(count * latentSize)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) } }
        }
        let images = trainer.model.decodeMeans(latents)
        if let out {
            let columns = Int(Double(count).squareRoot().rounded(.up))
            let grid = ImageGrid.tile(images, side: 28, columns: columns)
            try PNGFile.write(path: out, width: grid.0, height: grid.1, pixels: grid.2)
        }
        if let rawOut {
            var bytes: [UInt8] = []
            for image in images { for value in image { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } } }
            try AtomicFile.write(bytes, to: rawOut)
        }
    }

    public static func evaluate(checkpoint path: String, data: DataSplits,
                                communicator: Communicator = SingleProcessCommunicator(),
                                importanceSamples: Int? = nil, images: Int? = nil) throws -> Result {
        let (trainer, stored) = try load(checkpoint: path, data: data, communicator: communicator)
        let configuration = trainer.configuration
        let terms = trainer.evaluate(data.test)
        let mean = terms.perSample(klWeight: configuration.klWeight)
        let weighted = importanceSamples.map { trainer.importanceWeightedNLL(data.test, samples: $0, images: images) }
        return Result(loss: mean.loss, reconstruction: mean.reconstruction, kl: mean.kl, samples: terms.samples,
                      globalStep: stored.position.globalStep, importanceWeighted: weighted)
    }

    /// The model a checkpoint describes, loaded (rank 0 reads, every rank decodes the same bytes).
    static func load(checkpoint path: String, data: DataSplits, communicator: Communicator) throws -> (Trainer, Checkpoint.Metadata) {
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
            return (trainer, try trainer.decodeState(bytes, path: path))
        }
        trainer.exchange?.synchronize()
        return (trainer, stored)
    }
}
