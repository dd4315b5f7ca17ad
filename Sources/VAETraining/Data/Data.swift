import Foundation
import VAEModel

/// A data-set error; the message names the file and the fault, and says what to do.
public enum DataError: Error, CustomStringConvertible, Equatable {
    case missingFile(path: String)
    case wrongMagic(path: String, found: UInt32, expected: UInt32)
    case wrongDimensions(path: String, found: [Int], expected: String)
    case truncated(path: String, expectedBytes: Int, actualBytes: Int)
    case trailingBytes(path: String, expectedBytes: Int, actualBytes: Int)
    case countMismatch(images: String, imageCount: Int, labels: String, labelCount: Int)
    case unreadable(path: String, reason: String)
    case setWidthMismatch(source: String, split: String, width: Int, trainWidth: Int)

    public var description: String {
        switch self {
        case .missingFile(let path):
            return
                "\(path): file not found. Run Launch/fetch-mnist.sh to download MNIST, pass --data synthetic, or give your own "
                + "data (an .npy file or folder; see \"Your own data\" in the README)."
        case .wrongMagic(let path, let found, let expected):
            return
                "\(path): IDX magic is 0x\(String(found, radix: 16, uppercase: true)), expected 0x\(String(expected, radix: 16, uppercase: true))"
                + (found == 0x801
                    ? " (this is a label file given where images are expected)"
                    : found == 0x803 ? " (this is an image file given where labels are expected)" : "")
                + ". Check that the file is the right IDX file."
        case .wrongDimensions(let path, let found, let expected):
            return "\(path): dimensions \(found), expected \(expected)."
        case .truncated(let path, let expected, let actual):
            return "\(path): truncated, \(actual) bytes where the header promises \(expected). Fetch the file again."
        case .trailingBytes(let path, let expected, let actual):
            return "\(path): \(actual - expected) trailing bytes after the \(expected) the header promises. Fetch the file again."
        case .countMismatch(let images, let imageCount, let labels, let labelCount):
            return "\(images) has \(imageCount) images but \(labels) has \(labelCount) labels; they must come from the same set."
        case .unreadable(let path, let reason):
            return "\(path): cannot be read (\(reason))."
        case .setWidthMismatch(let source, let split, let width, let trainWidth):
            return "\(source): the \(split) set has \(width) values per sample and the training set \(trainWidth); every set of "
                + "one data set must have the same width (check the \(split) files, or the manifest's \(split) entry)."
        }
    }
}

/// A data set: `count` samples of `rows × columns` values each (images, or rows of a table with `rows` = 1),
/// kept as stored (``SampleStorage``: mapped files or owned memory) and converted to floats one batch at a time;
/// labels when the format has them (MNIST's IDX label files), else none. A seeded part of another data set (the
/// validation split) reads the same storage through `selection`.
public struct ImageDataset: Sendable {
    public let storage: SampleStorage
    /// One label per stored sample, or empty.
    public let labels: [UInt8]
    public let rows: Int
    public let columns: Int
    /// The stored sample behind each of this set's samples (ascending), or nil when they are all of them in order.
    public let selection: [Int32]?
    public var count: Int { selection?.count ?? storage.count }
    public var pixelsPerImage: Int { rows * columns }
    /// One sample's shape as the file gives it: `[C, H, W]` (an NPY `[N, C, H, W]`), `[1, H, W]` (IDX images, an
    /// NPY `[N, H, W]`) or `[D]` (an NPY `[N, D]`); a layer model without `model.input_shape` takes it.
    public let sampleShape: [Int]
    /// The samples are stored channels-last (`[H, W, C]`, numpy/PIL/TensorFlow) and converted to ``sampleShape``'s
    /// `[C, H, W]` as they are read (``ImageLayout``).
    public let channelsLast: Bool
    /// Pictures of its folder that could not be decoded and were left out (`data.skip_bad_images`).
    public var skippedPictures = 0
    /// The dimensions of one stored sample as its file gives them (an NPY's shape after N), for ``ImageLayout``.
    public let storedDimensions: [Int]

    /// Reads one byte of each page of the samples at `positions` (in this set), so a mapped file that shrank is
    /// found before a step uses them (``SampleStorage/touch(sample:)``); returns the bytes combined.
    public func touch(_ positions: UnsafeBufferPointer<Int32>) -> UInt8 {
        var combined: UInt8 = 0
        for position in positions {
            let sample = selection.map { Int($0[Int(position)]) } ?? Int(position)
            combined ^= storage.touch(sample: sample)
        }
        return combined
    }

    /// Byte data in memory (the synthetic set, tests).
    public init(pixels: [UInt8], labels: [UInt8] = [], rows: Int, columns: Int) {
        precondition(labels.isEmpty || pixels.count == labels.count * rows * columns, "pixels and labels disagree")
        self.init(
            storage: SampleStorage(bytes: pixels, valuesPerSample: rows * columns), rows: rows, columns: columns, labels: labels)
    }

    /// The samples of `storage` as `rows × columns` values each, with optional labels.
    public init(
        storage: SampleStorage, rows: Int, columns: Int, labels: [UInt8] = [], selection: [Int32]? = nil,
        sampleShape: [Int]? = nil, channelsLast: Bool = false, storedDimensions: [Int]? = nil
    ) {
        precondition(storage.valuesPerSample == rows * columns, "storage and shape disagree")
        self.sampleShape = sampleShape ?? (rows > 1 ? [1, rows, columns] : [columns])
        self.channelsLast = channelsLast
        self.storedDimensions = storedDimensions ?? self.sampleShape
        precondition(labels.isEmpty || labels.count == storage.count, "labels and samples disagree")
        self.storage = storage
        self.labels = labels
        self.rows = rows
        self.columns = columns
        self.selection = selection
    }

    /// This data set noting `skippedPictures` pictures left out.
    func noting(skippedPictures count: Int) -> ImageDataset {
        var copy = self
        copy.skippedPictures = count
        return copy
    }

    /// The samples `indices` (ascending stored indices) of the same storage.
    func selecting(_ indices: [Int32]) -> ImageDataset {
        ImageDataset(
            storage: storage, rows: rows, columns: columns, labels: labels, selection: indices, sampleShape: sampleShape,
            channelsLast: channelsLast, storedDimensions: storedDimensions
        ).noting(skippedPictures: skippedPictures)
    }

    /// The stored sample behind sample `index`: the key of its random draws too, so a sample's ε and
    /// binarization do not depend on which split it is in.
    @inline(__always)
    public func storedIndex(_ index: Int) -> Int {
        if let selection { return Int(selection[index]) }
        return index
    }

    /// Sample `index`'s values as floats (bytes / 255, floats as stored) in `target`. No allocation.
    @inline(__always)
    public func convert(sample index: Int, into target: UnsafeMutablePointer<Float>) {
        storage.convert(sample: storedIndex(index), into: target)
    }

    /// The byte values of every sample in order, for byte data (a copy: tests and small sets).
    public var pixels: [UInt8] {
        guard storage.type == .uint8 else { return [] }
        guard let selection else { return storage.copyBytes() }
        let width = pixelsPerImage
        var result: [UInt8] = []
        result.reserveCapacity(selection.count * width)
        for stored in selection {
            result.append(contentsOf: UnsafeRawBufferPointer(start: storage.address(ofSample: Int(stored)), count: width))
        }
        return result
    }

    /// Identifies the stored data a checkpoint was trained on (whatever part of it a split selects): SHA-256 of the
    /// values and labels; for memory-mapped files without labels, each file's hash cached beside it
    /// (``FingerprintCache``), and for several files (shards) the SHA-256 of their hashes in order.
    public var fingerprint: String {
        let segments = storage.segments
        if labels.isEmpty, segments.allSatisfy({ $0.file != nil }) {
            let bytesPerSample = storage.valuesPerSample * storage.type.byteWidth
            let hashes = segments.map { FingerprintCache.fingerprint(of: $0, bytesPerSample: bytesPerSample, file: $0.file!) }
            if hashes.count == 1 { return hashes[0] }
            return SHA256.hash(Array(("shards\n" + hashes.joined(separator: "\n")).utf8)).hexString
        }
        var hasher = SHA256()
        storage.hash(into: &hasher)
        hasher.update(labels)
        return hasher.finalize().hexString
    }

    /// The first value outside [0, 1] (sample, value), or nil. Byte data is always inside (as grey levels).
    public func firstValueOutsideUnitInterval() -> (sample: Int, value: Double)? {
        guard storage.type != .uint8 else { return nil }
        var row = [Float](repeating: 0, count: pixelsPerImage)
        for sample in 0..<count {
            row.withUnsafeMutableBufferPointer { convert(sample: sample, into: $0.baseAddress!) }
            if let bad = row.first(where: { !($0 >= 0 && $0 <= 1) }) { return (sample, Double(bad)) }
        }
        return nil
    }
}

/// How pixels become likelihood targets.
public enum Binarization: String, CaseIterable, Sendable {
    /// Grey levels in [0, 1] (bytes / 255), as the PyTorch example trains.
    case none
    /// A fresh Bernoulli(grey level) draw of every pixel every epoch, keyed by (seed, epoch, sample index).
    case dynamic
    /// One fixed Bernoulli draw per pixel, keyed by (seed, sample index).
    case `static`
}

/// Turns samples of a data set into model inputs and their ε draws, without allocating.
public struct BatchFiller {
    public let seed: UInt64
    public let binarization: Binarization
    /// Applied to every converted sample when the data set is standardized (`data.standardize`).
    public let standardization: Standardization?

    /// Training fills flip each `[C, H, W]` picture left to right with probability ½, keyed by (seed, epoch, stored
    /// sample index) — so a resume and any rank count draw the same flips (`data.flip`).
    public let flip: Bool

    public init(seed: UInt64, binarization: Binarization, standardization: Standardization? = nil, flip: Bool = false) {
        self.seed = seed
        self.binarization = binarization
        self.standardization = standardization
        self.flip = flip
    }

    /// Writes samples `indices` of `dataset` as rows of `input`, and their ε into `epsilon`: `samples` (an objective's
    /// K) draws each, draw k of row i into ε row i·K + k, keyed by (…, k) — draw 0 is the one-sample stream.
    /// Training draws are keyed by (seed, epoch, sample index); `evaluation` uses fixed, epoch-free keys
    /// (a separate ε stream and static binarization) so a test loss is a pure function of the parameters.
    public func fill(
        input: UnsafeMutablePointer<Float>, epsilon: UnsafeMutablePointer<Float>, latentSize: Int, samples: Int = 1,
        dataset: ImageDataset, indices: UnsafeBufferPointer<Int32>, epoch: Int, evaluation: Bool
    ) {
        let width = dataset.pixelsPerImage
        let mode: Binarization = (evaluation && binarization == .dynamic) ? .static : binarization
        for row in 0..<indices.count {
            let sample = dataset.storedIndex(Int(indices[row]))
            let target = input + row * width
            // Grey levels byte / 255 (as torchvision's ToTensor() gives the PyTorch example), floats as stored;
            // gathered into [C, H, W] when stored channels-last.
            if dataset.channelsLast {
                dataset.storage.convert(sample: sample, into: target, channelsLast: dataset.sampleShape[0])
            } else {
                dataset.storage.convert(sample: sample, into: target)
            }
            switch mode {
            case .none:
                standardization?.apply(to: target)
            case .dynamic, .static:
                // Byte data only (the trainer refuses a binarization of float data): each grey level x / 255 is a pixel's
                // probability of 1.
                var stream =
                    mode == .dynamic
                    ? RandomStream(seed: seed, purpose: .dynamicBinarization, epoch: UInt64(epoch), index: UInt64(sample))
                    : RandomStream(seed: seed, purpose: .staticBinarization, epoch: evaluation ? 1 : 0, index: UInt64(sample))
                for j in 0..<width { target[j] = stream.nextUnitFloat() < target[j] ? 1 : 0 }
            }
            if flip && !evaluation && dataset.sampleShape.count == 3 {
                var coin = RandomStream(seed: seed, purpose: .flip, epoch: UInt64(epoch), index: UInt64(sample))
                if coin.nextUnitFloat() < 0.5 { flipLeftRight(target, shape: dataset.sampleShape) }
            }
            for k in 0..<samples {
                var noise =
                    evaluation
                    ? RandomStream(seed: seed, purpose: .evaluationEpsilon, index: UInt64(sample), part: UInt64(k))
                    : RandomStream(seed: seed, purpose: .epsilon, epoch: UInt64(epoch), index: UInt64(sample), part: UInt64(k))
                noise.fillStandardNormal(epsilon + (row * samples + k) * latentSize, count: latentSize)
            }
        }
    }
}

/// Mirrors a `[C, H, W]` picture left to right in place.
@inline(__always)
func flipLeftRight(_ values: UnsafeMutablePointer<Float>, shape: [Int]) {
    let width = shape[2]
    for line in 0..<(shape[0] * shape[1]) {
        let row = values + line * width
        var (i, j) = (0, width - 1)
        while i < j {
            (row[i], row[j]) = (row[j], row[i])
            i += 1
            j -= 1
        }
    }
}
