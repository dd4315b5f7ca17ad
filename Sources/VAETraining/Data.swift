import Foundation
import VAEModel

/// A data-set error; the message names the file and the fault, and says what to do.
public enum DataError: Error, CustomStringConvertible, Equatable {
    case missingFile(path: String)
    case compressed(path: String)
    case wrongMagic(path: String, found: UInt32, expected: UInt32)
    case wrongDimensions(path: String, found: [Int], expected: String)
    case truncated(path: String, expectedBytes: Int, actualBytes: Int)
    case trailingBytes(path: String, expectedBytes: Int, actualBytes: Int)
    case countMismatch(images: String, imageCount: Int, labels: String, labelCount: Int)
    case labelOutOfRange(path: String, index: Int, value: UInt8)
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .missingFile(let path):
            return "\(path): file not found. Run Launch/fetch-mnist.sh to download MNIST, or pass --data synthetic."
        case .compressed(let path):
            return "\(path): starts with gzip bytes 1f 8b; the file is still compressed. Decompress it (gunzip) first."
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
        case .labelOutOfRange(let path, let index, let value):
            return "\(path): label \(value) at index \(index) is above 9."
        case .unreadable(let path, let reason):
            return "\(path): cannot be read (\(reason))."
        }
    }
}

/// A data set: `count` samples of `rows × columns` values each (images, or rows of a table with `rows` = 1),
/// kept as stored — bytes in memory, or a memory-mapped NPY file — and converted to floats one batch at a time;
/// labels when the format has them (IDX), else none.
public struct ImageDataset: Sendable {
    public let storage: SampleStorage
    public let labels: [UInt8]
    public let count: Int
    public let rows: Int
    public let columns: Int
    public var pixelsPerImage: Int { rows * columns }

    /// Byte data in memory (IDX files, the synthetic set).
    public init(pixels: [UInt8], labels: [UInt8], rows: Int, columns: Int) {
        precondition(pixels.count == labels.count * rows * columns, "pixels and labels disagree")
        self.init(storage: SampleStorage(bytes: pixels), count: labels.count, rows: rows, columns: columns, labels: labels)
    }

    /// `count` samples of `rows × columns` values in `storage`, with optional labels.
    public init(storage: SampleStorage, count: Int, rows: Int, columns: Int, labels: [UInt8] = []) {
        precondition(storage.byteCount == count * rows * columns * storage.type.byteWidth, "storage and shape disagree")
        self.storage = storage
        self.labels = labels
        self.count = count
        self.rows = rows
        self.columns = columns
    }

    /// The byte values, for data held as bytes in memory (empty otherwise).
    public var pixels: [UInt8] { storage.bytes ?? [] }

    /// SHA-256 of the stored values and the labels: identifies the data a checkpoint was trained on. For a
    /// memory-mapped file it is cached beside the file (``FingerprintCache``), keyed by the file's identity.
    public var fingerprint: String {
        if let file = storage.file, labels.isEmpty { return FingerprintCache.fingerprint(of: storage, file: file) }
        var hasher = SHA256()
        storage.hash(into: &hasher)
        hasher.update(labels)
        return hasher.finalize().hexString
    }

    /// The first value outside [0, 1] (sample, value), or nil. Byte data is always inside (as grey levels).
    public func firstValueOutsideUnitInterval() -> (sample: Int, value: Double)? {
        guard storage.type != .uint8 else { return nil }
        let width = pixelsPerImage
        var row = [Float](repeating: 0, count: width)
        for sample in 0..<count {
            row.withUnsafeMutableBufferPointer { storage.convert(first: sample * width, count: width, into: $0.baseAddress!) }
            if let bad = row.first(where: { !($0 >= 0 && $0 <= 1) }) { return (sample, Double(bad)) }
        }
        return nil
    }
}

/// Reader for the IDX format MNIST is distributed in (big-endian, magic 0x00000803 images / 0x00000801 labels).
public enum IDXReader {
    public static let imageMagic: UInt32 = 0x0000_0803
    public static let labelMagic: UInt32 = 0x0000_0801

    /// The whole file in one allocation (read(2) straight into the array: no intermediate Data copy, so peak
    /// memory while loading MNIST stays at one copy of the file).
    static func read(_ path: String) throws -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else { throw DataError.missingFile(path: path) }
        // O_NONBLOCK: a FIFO or device given as a data file must not block the open; fstat then refuses it.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw DataError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw DataError.unreadable(path: path, reason: "not a regular file")
        }
        let size = Int(info.st_size)
        var failure: String?
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            var done = 0
            while done < size {
                let n = Glibc.read(fd, buffer.baseAddress! + done, size - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { failure = n < 0 ? String(cString: strerror(errno)) : "file shrank while reading"; break }
                done += n
            }
            count = done
        }
        if let failure { throw DataError.unreadable(path: path, reason: failure) }
        return bytes
    }

    static func header(_ bytes: [UInt8], path: String, magic: UInt32, dimensions: Int) throws -> [Int] {
        if bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B { throw DataError.compressed(path: path) }
        let headerSize = 4 + 4 * dimensions
        guard bytes.count >= 4 else { throw DataError.truncated(path: path, expectedBytes: headerSize, actualBytes: bytes.count) }
        let found = bigEndian(bytes, 0)
        guard found == magic else {
            throw DataError.wrongMagic(path: path, found: found, expected: magic)
        }
        guard bytes.count >= headerSize else {
            throw DataError.truncated(path: path, expectedBytes: headerSize, actualBytes: bytes.count)
        }
        return (0..<dimensions).map { Int(bigEndian(bytes, 4 + 4 * $0)) }
    }

    static func bigEndian(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
    }

    static func checkSize(_ bytes: [UInt8], path: String, expected: Int) throws {
        if bytes.count < expected { throw DataError.truncated(path: path, expectedBytes: expected, actualBytes: bytes.count) }
        if bytes.count > expected { throw DataError.trailingBytes(path: path, expectedBytes: expected, actualBytes: bytes.count) }
    }

    /// Reads an image file; `rows`/`columns`, when given, are the only accepted image size.
    public static func readImages(
        path: String, rows: Int? = nil, columns: Int? = nil
    )
        throws -> (pixels: [UInt8], count: Int, rows: Int, columns: Int)
    {
        var bytes = try read(path)
        let dims = try header(bytes, path: path, magic: imageMagic, dimensions: 3)
        let expected = "[N, \(rows.map(String.init) ?? "rows"), \(columns.map(String.init) ?? "columns")]"
        guard dims[1] > 0, dims[2] > 0, rows == nil || dims[1] == rows, columns == nil || dims[2] == columns,
            dims[0].multipliedReportingOverflow(by: dims[1] * dims[2]).overflow == false,
            dims[0] * dims[1] * dims[2] < Int.max - 16
        else {
            throw DataError.wrongDimensions(path: path, found: dims, expected: expected)
        }
        try checkSize(bytes, path: path, expected: 16 + dims[0] * dims[1] * dims[2])
        bytes.removeFirst(16)  // in place: no second copy of the images
        return (bytes, dims[0], dims[1], dims[2])
    }

    /// Reads a label file; every label must be 0...9.
    public static func readLabels(path: String) throws -> [UInt8] {
        let bytes = try read(path)
        let dims = try header(bytes, path: path, magic: labelMagic, dimensions: 1)
        try checkSize(bytes, path: path, expected: 8 + dims[0])
        let labels = Array(bytes[8...])
        if let bad = labels.firstIndex(where: { $0 > 9 }) {
            throw DataError.labelOutOfRange(path: path, index: bad, value: labels[bad])
        }
        return labels
    }

    /// Reads an image file and its label file as one data set, checking that the counts agree.
    public static func readDataset(images: String, labels: String, rows: Int? = 28, columns: Int? = 28) throws -> ImageDataset {
        let image = try readImages(path: images, rows: rows, columns: columns)
        let label = try readLabels(path: labels)
        guard image.count == label.count else {
            throw DataError.countMismatch(images: images, imageCount: image.count, labels: labels, labelCount: label.count)
        }
        return ImageDataset(pixels: image.pixels, labels: label, rows: image.rows, columns: image.columns)
    }
}

/// The training and test sets.
public struct DataSplits: Sendable {
    public let train: ImageDataset
    public let test: ImageDataset
    /// Where the data came from ("synthetic" or a folder).
    public let source: String
    /// SHA-256 of the training set, computed once (see ``ImageDataset/fingerprint``).
    public let trainFingerprint: String

    public init(train: ImageDataset, test: ImageDataset, source: String) {
        self.train = train
        self.test = test
        self.source = source
        trainFingerprint = train.fingerprint
    }

    /// MNIST from the four standard IDX files in `directory`.
    public static func mnist(directory: String) throws -> DataSplits {
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        let train = try IDXReader.readDataset(images: path("train-images-idx3-ubyte"), labels: path("train-labels-idx1-ubyte"))
        let test = try IDXReader.readDataset(images: path("t10k-images-idx3-ubyte"), labels: path("t10k-labels-idx1-ubyte"))
        return DataSplits(train: train, test: test, source: directory)
    }

    /// NumPy arrays: `train.npy` and `test.npy` in `directory` (see ``NPYReader``).
    public static func npy(directory: String) throws -> DataSplits {
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        let train = try NPYReader.readDataset(path: path("train.npy"))
        guard FileManager.default.fileExists(atPath: path("test.npy")) else {
            throw DataError.unreadable(
                path: path("test.npy"), reason: "not found; save the test set beside train.npy (numpy.save('test.npy', x_test))")
        }
        let test = try NPYReader.readDataset(path: path("test.npy"))
        guard test.pixelsPerImage == train.pixelsPerImage else {
            throw DataError.unreadable(
                path: path("test.npy"),
                reason: "\(test.pixelsPerImage) values per sample, but train.npy has \(train.pixelsPerImage)")
        }
        return DataSplits(train: train, test: test, source: directory)
    }

    /// `source` is `synthetic`, a folder holding `train.npy` and `test.npy`, or a folder of MNIST IDX files.
    public static func load(_ source: String) throws -> DataSplits {
        if source == "synthetic" { return synthetic() }
        if source.hasSuffix(".npy") {
            throw DataError.unreadable(
                path: source, reason: "a single NPY file; save it as train.npy in a folder beside a test.npy, and pass the folder")
        }
        if FileManager.default.fileExists(atPath: (source as NSString).appendingPathComponent("train.npy")) {
            return try npy(directory: source)
        }
        return try mnist(directory: source)
    }

    /// A built-in, deterministic 28×28 data set of ten stroke-and-ring shapes (label = shape), so the trainer
    /// and tests run with nothing downloaded. Every image is a pure function of its index.
    public static func synthetic(trainCount: Int = 10_000, testCount: Int = 2_000) -> DataSplits {
        func make(_ count: Int, offset: Int) -> ImageDataset {
            var pixels = [UInt8](repeating: 0, count: count * 784)
            var labels = [UInt8](repeating: 0, count: count)
            for i in 0..<count {
                let label = i % 10
                labels[i] = UInt8(label)
                var stream = RandomStream(seed: 0, purpose: .syntheticData, index: UInt64(i + offset))
                let cx = 13.5 + 3 * (stream.nextUnitFloat() - 0.5), cy = 13.5 + 3 * (stream.nextUnitFloat() - 0.5)
                let angle = Float(label) * .pi / 10 + 0.3 * (stream.nextUnitFloat() - 0.5)
                let radius = 4 + Float(label % 5) + 2 * stream.nextUnitFloat()
                let thickness = 1.2 + stream.nextUnitFloat()
                let ring = label >= 5
                let (dx, dy) = (cos(angle), sin(angle))
                for y in 0..<28 {
                    for x in 0..<28 {
                        let px = Float(x) - cx, py = Float(y) - cy
                        var distance = abs(px * dy - py * dx)  // distance to the stroke's line
                        if abs(px * dx + py * dy) > 9 { distance = 99 }  // stroke length
                        if ring { distance = min(distance, abs((px * px + py * py).squareRoot() - radius)) }
                        let value = max(0, 1 - distance / thickness)
                        pixels[i * 784 + y * 28 + x] = UInt8((value * 255).rounded())
                    }
                }
            }
            return ImageDataset(pixels: pixels, labels: labels, rows: 28, columns: 28)
        }
        return DataSplits(train: make(trainCount, offset: 0), test: make(testCount, offset: 1 << 40), source: "synthetic")
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

    public init(seed: UInt64, binarization: Binarization) {
        self.seed = seed
        self.binarization = binarization
    }

    /// Writes samples `indices` of `dataset` as rows of `input`, and their ε into `epsilon`.
    /// Training draws are keyed by (seed, epoch, sample index); `evaluation` uses fixed, epoch-free keys
    /// (a separate ε stream and static binarization) so a test loss is a pure function of the parameters.
    public func fill(
        input: UnsafeMutablePointer<Float>, epsilon: UnsafeMutablePointer<Float>, latentSize: Int,
        dataset: ImageDataset, indices: UnsafeBufferPointer<Int32>, epoch: Int, evaluation: Bool
    ) {
        let width = dataset.pixelsPerImage
        let storage = dataset.storage
        let mode: Binarization = (evaluation && binarization == .dynamic) ? .static : binarization
        for row in 0..<indices.count {
            let sample = Int(indices[row])
            let target = input + row * width
            switch mode {
            case .none:
                // Grey levels byte / 255 (as torchvision's ToTensor() gives the PyTorch example), floats as stored.
                storage.convert(first: sample * width, count: width, into: target)
            case .dynamic, .static:
                // Byte data only (the trainer refuses a binarization of float data).
                var stream =
                    mode == .dynamic
                    ? RandomStream(seed: seed, purpose: .dynamicBinarization, epoch: UInt64(epoch), index: UInt64(sample))
                    : RandomStream(seed: seed, purpose: .staticBinarization, epoch: evaluation ? 1 : 0, index: UInt64(sample))
                storage.withBytes { raw in
                    let source = raw.baseAddress!.assumingMemoryBound(to: UInt8.self) + sample * width
                    for j in 0..<width { target[j] = stream.nextUnitFloat() < Float(source[j]) / 255 ? 1 : 0 }
                }
            }
            var noise =
                evaluation
                ? RandomStream(seed: seed, purpose: .evaluationEpsilon, index: UInt64(sample))
                : RandomStream(seed: seed, purpose: .epsilon, epoch: UInt64(epoch), index: UInt64(sample))
            noise.fillStandardNormal(epsilon + row * latentSize, count: latentSize)
        }
    }
}
