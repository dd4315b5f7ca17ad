import Foundation
import VAEDistributed
import VAEModel

/// The test pass: loss sums of a data set with fixed ε and binarization keys, so the number is a pure function of
/// the parameters, split over the ranks the way the exchange splits a batch.
public enum TestPass {
    /// Σ over `dataset` of the loss terms under `exchange`'s model (collective).
    public static func loss(of dataset: ImageDataset, exchange: any GradientExchange, filler: BatchFiller) -> LossTerms {
        let model = exchange.model
        var indices = [Int32](repeating: 0, count: model.batchCapacity)
        return exchange.evaluate(count: dataset.count) { rows in
            for (i, sample) in rows.enumerated() { indices[i] = Int32(sample) }
            indices.withUnsafeBufferPointer {
                filler.fill(
                    input: model.input, epsilon: model.epsilon, latentSize: model.layout.architecture.latentSize,
                    samples: model.samplesPerInput, dataset: dataset,
                    indices: UnsafeBufferPointer(rebasing: $0[0..<rows.count]), epoch: 0,
                    evaluation: true)
            }
            return model.forward(batch: rows.count)
        }
    }
}

extension TestPass {
    /// The mean PSNR of `dataset`'s reconstructions, in dB: each picture decoded from z = μ (the likelihood's mean)
    /// against itself, 10·log₁₀(1 / MSE) on values in [0, 1] (this rank's model alone: eval asks rank 0, which reports).
    public static func peakSignalToNoise(of dataset: ImageDataset, model: VariationalAutoencoder, filler: BatchFiller) -> Double {
        let width = dataset.pixelsPerImage, latent = model.layout.architecture.latentSize
        var total = 0.0, start = 0
        while start < dataset.count {
            let n = min(model.batchCapacity, dataset.count - start)
            let indices = (start..<(start + n)).map { Int32($0) }
            indices.withUnsafeBufferPointer {
                filler.fill(
                    input: model.input, epsilon: model.epsilon, latentSize: latent, dataset: dataset, indices: $0, epoch: 0,
                    evaluation: true)
            }
            let originals = Array(UnsafeBufferPointer(start: model.input, count: n * width))
            model.encode(batch: n)
            let decoded = model.decodeMeans(Array(UnsafeBufferPointer(start: model.mean, count: n * latent)))
            for r in 0..<n {
                var squares = 0.0
                for j in 0..<width {
                    let d = Double(decoded[r][j]) - Double(originals[r * width + j])
                    squares += d * d
                }
                total += 10 * log10(1 / max(squares / Double(width), 1e-10))
            }
            start += n
        }
        return total / Double(max(dataset.count, 1))
    }
}

/// `vae-dist eval` and `vae-dist sample`: a checkpoint's model (through ``LoadedModel``) on the test set, or decoded.
public enum Evaluation {
    public struct Result: Sendable {
        /// The set evaluated.
        public var split: DataSplit
        public var loss: Double
        public var reconstruction: Double
        public var kl: Double
        public var samples: Int
        public var globalStep: Int
        /// With `importanceSamples`: the importance-weighted NLL.
        public var importanceWeighted: ImportanceWeightedNLL?
        /// Bits per dimension of the loss and of the NLL, for 8-bit image data and a likelihood that gives them.
        public var bitsPerDimension: Double?, nllBitsPerDimension: Double?
        /// The mean PSNR of the reconstructions (z = μ), dB, for 8-bit pictures (on rank 0, which reports).
        public var peakSignalToNoise: Double?
    }

    /// The checkpoint's per-sample −ELBO on `split` with the same fixed ε and binarization keys, and the same
    /// standardization and validation split, as the trainer's epoch-end passes, so the numbers agree exactly
    /// (collective).
    public static func evaluate(
        checkpoint path: String, data: DataSplits, split: DataSplit = .test,
        communicator: Communicator = SingleProcessCommunicator(),
        importanceSamples: Int? = nil, images: Int? = nil
    ) throws -> Result {
        let loaded = try LoadedModel.load(checkpoint: path, communicator: communicator)
        return try evaluate(
            loaded, path: path, data: try data.laidOut(for: loaded.configuration), split: split, communicator: communicator,
            importanceSamples: importanceSamples, images: images)
    }

    /// The same with the data loaded from `dataSource` as the checkpoint's run read it (a picture folder's size,
    /// crop and cache, the images' layout): `vae-dist eval`.
    public static func evaluate(
        checkpoint path: String, dataSource: String, split: DataSplit = .test, communicator: Communicator,
        importanceSamples: Int? = nil, images: Int? = nil
    ) throws -> Result {
        let loaded = try LoadedModel.load(checkpoint: path, communicator: communicator)
        let configuration = loaded.configuration
        let data = try communicator.agree { try DataSplits.load(dataSource, as: configuration) }
        return try evaluate(
            loaded, path: path, data: data, split: split, communicator: communicator, importanceSamples: importanceSamples,
            images: images)
    }

    private static func evaluate(
        _ loaded: LoadedModel, path: String, data: DataSplits, split: DataSplit, communicator: Communicator,
        importanceSamples: Int?, images: Int?
    ) throws -> Result {
        let configuration = loaded.configuration
        // A validation set held out by the run is re-derived from the data by its seed: that names the same samples
        // only on the same data (the fingerprint), as resume checks. The test set may be any data's.
        let rederived = data.validation == nil && configuration.validationFraction > 0
        if rederived && split != .test && loaded.metadata.dataFingerprint != data.trainFingerprint {
            throw CheckpointError.format(
                path: path,
                problem:
                    "its \(split.rawValue) set is a seeded \(configuration.validationFraction) of the data it trained on (SHA-256 "
                    + "\(loaded.metadata.dataFingerprint.prefix(16))…), and \(data.source) is other data (\(data.trainFingerprint.prefix(16))…); "
                    + "pass the --data it trained on, or data with its own validation set")
        }
        let splits =
            data.validation == nil
            ? try data.holdingOut(fraction: configuration.validationFraction, seed: configuration.seed) : data
        guard let dataset = splits[split] else {
            throw DataError.unreadable(
                path: data.source,
                reason:
                    "has no \(split.rawValue) set; "
                    + (split == .validation
                        ? "give one (validation.npy, or a manifest's \"validation\") or train with --validation-fraction"
                        : "give one (test.npy, or a manifest's \"test\")"))
        }
        guard dataset.pixelsPerImage == configuration.architecture.inputSize else {
            throw TrainerError.inputSizeMismatch(data: dataset.pixelsPerImage, model: configuration.architecture.inputSize)
        }
        let filler = BatchFiller(
            seed: configuration.seed, binarization: configuration.binarization,
            standardization: loaded.metadata.standardization)
        let terms = TestPass.loss(of: dataset, exchange: loaded.exchange, filler: filler)
        let shrunken = dataset.storage.shrunkenFiles
        guard shrunken.isEmpty else {
            throw DataError.unreadable(
                path: shrunken.joined(separator: ", "),
                reason:
                    "shrank while being read (truncated or rewritten by another program), so no loss is given; restore it and evaluate again"
            )
        }
        let mean = terms.perSample
        let weighted = importanceSamples.map {
            ImportanceWeightedNLL.estimate(
                model: loaded.model, dataset: dataset, filler: filler, communicator: communicator,
                seed: configuration.seed, samples: $0, images: images)
        }
        let pixels = dataset.storage.type == .uint8 && configuration.binarization == .none
        func bits(_ nats: Double) -> Double? { configuration.bitsPerDimension(nats, of: dataset) }
        return Result(
            split: split, loss: mean.loss, reconstruction: mean.reconstruction, kl: mean.kl, samples: terms.samples,
            globalStep: loaded.metadata.position.globalStep, importanceWeighted: weighted, bitsPerDimension: bits(mean.loss),
            nllBitsPerDimension: weighted.flatMap { bits($0.nll) },
            peakSignalToNoise: pixels && PictureShape(configuration.architecture) != nil && communicator.isLeader
                ? TestPass.peakSignalToNoise(of: dataset, model: loaded.model, filler: filler) : nil)
    }

    /// Where `sample --out-folder` writes sample `index`.
    public static func samplePath(in folder: String, index: Int) -> String {
        (folder as NSString).appendingPathComponent(String(format: "sample-%04d.png", index))
    }

    /// `sample --count` against the machine's memory before anything is allocated: per sample its z, the decoder's
    /// activations, the decoded values and their copies for the outputs.
    static func checkSampleMemory(count: Int, architecture: Architecture, physicalMemory: Int = MachineMemory.bytes) throws {
        let floats = architecture.latentSize + architecture.decoderHidden.reduce(0, +) + 4 * architecture.inputSize
        let (bytes, overflow) = count.multipliedReportingOverflow(by: 4 * floats)
        guard overflow || bytes > physicalMemory else { return }
        let needed = overflow ? "more than a 64-bit count of bytes" : "about \(MachineMemory.gigabytes(bytes))"
        throw ImageError(
            path: "sample --count",
            reason:
                "\(count) samples need \(needed), more than this machine's \(MachineMemory.gigabytes(physicalMemory)) of "
                + "memory; ask for fewer (several runs with other --seed values give more)")
    }

    /// Decodes `count` z of a checkpoint's model — z ~ p(z) (its prior) keyed by `seed`, or the little-endian float32 rows of
    /// `latentFile` — and writes them as a PNG grid to `out` (grey or RGB pictures) and/or as float32 means
    /// (`count × input_size`, in the data's units: a standardized run's means are un-standardized) to `rawOut`.
    public static func sample(
        checkpoint path: String, count: Int, seed: UInt64, out: String?,
        latentFile: String? = nil, rawOut: String? = nil, outFolder: String? = nil
    ) throws {
        let loaded = try LoadedModel.load(checkpoint: path, communicator: SingleProcessCommunicator())
        let model = loaded.model
        let picture = PictureShape(model.layout.architecture)
        if let out = out ?? outFolder, picture == nil {
            throw ImageError(
                path: out,
                reason:
                    "a PNG grid needs pictures ([1, H, W] or [3, H, W], or 784 values), and this model's samples are \(model.layout.architecture.inputShape); use --raw-out"
            )
        }
        let latentSize = model.layout.architecture.latentSize
        try checkSampleMemory(count: count, architecture: model.layout.architecture)
        var latents = model.priorSamples(count: count, seed: seed)
        if let latentFile {
            guard let data = try? SmallFile.read(latentFile, limit: count * latentSize * 4), data.count == count * latentSize * 4
            else {
                throw ImageError(
                    path: latentFile,
                    reason: "expected \(count) × \(latentSize) little-endian float32 values (\(count * latentSize * 4) bytes)")
            }
            latents = data.withUnsafeBytes { raw in
                (0..<(count * latentSize)).map {
                    Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
                }
            }
        }
        var images = model.decodeMeans(latents)
        if let standardization = loaded.metadata.standardization { images = images.map(standardization.restore) }
        if let out, let picture {
            let columns = Int(Double(count).squareRoot().rounded(.up))
            let grid = ImageGrid.tile(images, shape: picture, columns: columns)
            try PNGFile.write(path: out, width: grid.width, height: grid.height, pixels: grid.pixels, channels: grid.channels)
        }
        if let outFolder, let picture {
            do { try FileManager.default.createDirectory(atPath: outFolder, withIntermediateDirectories: true) } catch {
                throw ImageError(path: outFolder, reason: "cannot make the folder (\(error))")
            }
            for (index, image) in images.enumerated() {
                let one = ImageGrid.tile([image], shape: picture, columns: 1)
                try PNGFile.write(
                    path: samplePath(in: outFolder, index: index), width: one.width, height: one.height, pixels: one.pixels,
                    channels: one.channels)
            }
        }
        if let rawOut {
            var bytes: [UInt8] = []
            for image in images { for value in image { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } } }
            try AtomicFile.write(bytes, to: rawOut)
        }
    }
}
