import Foundation
import VAEModel

/// A part of the data: what `eval --split` names.
public enum DataSplit: String, CaseIterable, Sendable {
    case train, validation, test
}

/// The training set and the held-out sets: a validation set (files, or a seeded part of the training set) and a
/// test set, each optional.
public struct DataSplits: Sendable {
    public let train: ImageDataset
    public let validation: ImageDataset?
    public let test: ImageDataset?
    /// Where the data came from ("synthetic", a file, a folder or a manifest).
    public let source: String
    /// Identifies the stored training data, computed once (see ``ImageDataset/fingerprint``).
    public let trainFingerprint: String

    public init(train: ImageDataset, validation: ImageDataset? = nil, test: ImageDataset?, source: String) {
        self.init(train: train, validation: validation, test: test, source: source, fingerprint: train.fingerprint)
    }

    init(train: ImageDataset, validation: ImageDataset?, test: ImageDataset?, source: String, fingerprint: String) {
        self.train = train
        self.validation = validation
        self.test = test
        self.source = source
        trainFingerprint = fingerprint
    }

    /// The set image grids and the importance-weighted NLL use: the test set, else the validation set.
    public var heldOut: ImageDataset? { test ?? validation }

    public subscript(split: DataSplit) -> ImageDataset? {
        switch split {
        case .train: return train
        case .validation: return validation
        case .test: return test
        }
    }

    /// "N train / M validation / K test samples", naming only the sets there are.
    public var counts: String {
        [("train", train as ImageDataset?), ("validation", validation), ("test", test)]
            .compactMap { name, set in set.map { "\($0.count) \(name)" } }.joined(separator: " / ") + " samples"
            + (train.skippedPictures > 0 ? " (\(train.skippedPictures) pictures that cannot be decoded left out)" : "")
    }

    /// A seeded `fraction` of the training set held out as the validation set (the first ⌈fraction·N⌉ of a
    /// permutation keyed by `seed`; both parts keep file order). The fingerprint stays the whole training file's:
    /// the split is part of the configuration.
    public func holdingOut(fraction: Double, seed: UInt64) throws -> DataSplits {
        guard fraction > 0 else { return self }
        guard validation == nil else {
            throw DataError.unreadable(
                path: source, reason: "has a validation set already; drop --validation-fraction (data.validation_fraction)")
        }
        let n = train.count
        let held = Int((fraction * Double(n)).rounded(.up))
        guard held < n else {
            throw DataError.unreadable(
                path: source, reason: "validation fraction \(fraction) of \(n) training samples leaves none to train on")
        }
        var order = (0..<n).map { Int32(train.storedIndex($0)) }
        var stream = RandomStream(seed: seed, purpose: .validationSplit)
        for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, stream.nextIndex(below: i + 1)) }
        return DataSplits(
            train: train.selecting(order[held...].sorted()), validation: train.selecting(order[..<held].sorted()),
            test: test, source: source, fingerprint: trainFingerprint)
    }

    /// Loads `source`:
    /// - `synthetic`: the built-in set;
    /// - a `.json` manifest: `{"train": …, "validation": …, "test": …}`, each a file, a list of files or a folder of
    ///   shards (paths relative to the manifest; `train` required);
    /// - a data file (`.npy`, IDX, either `.gz`): the training set alone;
    /// - a folder holding `train.npy` (optional `validation.npy`, `test.npy`), or folders `train/` (optional
    ///   `validation/`, `test/`) of shards, or MNIST's IDX names (label files optional), or only `.npy` shards
    ///   (the training set). Shards are read in name order as one data set.
    public static func load(_ source: String, pictures: ImageFolder.Options = ImageFolder.Options()) throws -> DataSplits {
        let splits = try read(source, pictures: pictures)
        try splits.checkWidths()
        return splits
    }

    /// Every set has the training set's width: a narrower test set would be read past each sample's end, a wider
    /// one past the buffers sized for the model (checked before any step or pass).
    public func checkWidths() throws {
        for (split, set) in [("validation", validation), ("test", test)] {
            guard let set, set.pixelsPerImage != train.pixelsPerImage else { continue }
            throw DataError.setWidthMismatch(
                source: source, split: split, width: set.pixelsPerImage, trainWidth: train.pixelsPerImage)
        }
    }

    /// The sets of `source`, as stored.
    static func read(_ source: String, pictures: ImageFolder.Options = ImageFolder.Options()) throws -> DataSplits {
        if source == "synthetic" { return synthetic() }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isFolder) else {
            throw DataError.missingFile(path: source)
        }
        if !isFolder.boolValue {
            if source.hasSuffix(".json") { return try manifest(source) }
            if source.hasSuffix(".npz") { return try NPZReader.splits(path: source) }
            if CIFARReader.isBatch(source) {
                return DataSplits(train: try CIFARReader.readDataset(paths: [source]), test: nil, source: source)
            }
            return DataSplits(train: try readSet([source]), test: nil, source: source)
        }
        let folder = DataFolder(source)
        if let cifar = try CIFARReader.splits(folder: source) { return cifar }
        if let train = folder.first(["train.npy", "train.npy.gz"]) {
            return DataSplits(
                train: try readSet([train]),
                validation: try folder.first(["validation.npy", "validation.npy.gz"]).map { try readSet([$0]) },
                test: try folder.first(["test.npy", "test.npy.gz"]).map { try readSet([$0]) }, source: source)
        }
        // A folder of pictures: train/ (optional validation/, test/) of pictures, or pictures alone (the training set).
        if folder.isFolder("train") && ImageFolder.holdsPictures(folder.path("train")) {
            func set(_ name: String) throws -> ImageDataset? {
                guard folder.isFolder(name) && ImageFolder.holdsPictures(folder.path(name)) else { return nil }
                return try ImageFolder.read(folder: folder.path(name), options: pictures)
            }
            return DataSplits(
                train: try ImageFolder.read(folder: folder.path("train"), options: pictures), validation: try set("validation"),
                test: try set("test"), source: source)
        }
        if folder.isFolder("train") {
            func set(_ name: String) throws -> ImageDataset? {
                if folder.isFolder(name) { return try readSet(try shards(in: folder.path(name))) }
                return try folder.first([name + ".npy", name + ".npy.gz"]).map { try readSet([$0]) }
            }
            return DataSplits(
                train: try readSet(try shards(in: folder.path("train"))), validation: try set("validation"),
                test: try set("test"),
                source: source)
        }
        let idx = folder.first(["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"])
        if idx == nil && (try? shards(in: source)) == nil && ImageFolder.holdsPictures(source) {
            return try ImageFolder.split(try ImageFolder.read(folder: source, options: pictures), source: source)
        }
        if idx == nil, let shards = try? shards(in: source) {
            return DataSplits(train: try readSet(shards), test: nil, source: source)
        }
        return try mnist(directory: source)
    }

    /// MNIST from the IDX files in `directory` (each plain or `.gz`; the label files are optional).
    public static func mnist(directory: String) throws -> DataSplits {
        let folder = DataFolder(directory)
        func set(_ images: String, _ labels: String) throws -> ImageDataset {
            let imageFile = folder.first([images, images + ".gz"]) ?? folder.path(images)
            return try IDXReader.readDataset(images: imageFile, labels: folder.first([labels, labels + ".gz"]))
        }
        return DataSplits(
            train: try set("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
            test: try set("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"), source: directory)
    }

    /// The manifest's sets. At most 1 MiB of JSON, keys `train`, `validation`, `test` only.
    static func manifest(_ path: String) throws -> DataSplits {
        let file = try DataFile(path: path)
        guard !file.compressed, file.size <= 1 << 20 else {
            throw DataError.unreadable(path: path, reason: "a manifest is a plain JSON file of at most 1 MiB")
        }
        let bytes = try file.prefix(file.size)
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(bytes)) } catch {
            throw DataError.unreadable(path: path, reason: "not valid JSON (\(error.localizedDescription))")
        }
        guard let entries = object as? [String: Any] else {
            throw DataError.unreadable(
                path: path, reason: "a manifest is a JSON object: {\"train\": \"train.npy\", \"test\": \"test.npy\"}")
        }
        if let unknown = entries.keys.sorted().first(where: { DataSplit(rawValue: $0) == nil }) {
            throw DataError.unreadable(
                path: path, reason: "unknown key \"\(unknown)\"; a manifest names train, validation and test")
        }
        let base = (path as NSString).deletingLastPathComponent
        func resolve(_ name: String) -> String { name.hasPrefix("/") ? name : (base as NSString).appendingPathComponent(name) }
        func set(_ split: DataSplit) throws -> ImageDataset? {
            guard let value = entries[split.rawValue] else { return nil }
            let files: [String]
            if let name = value as? String, !name.isEmpty {
                var isFolder: ObjCBool = false
                let resolved = resolve(name)
                files =
                    FileManager.default.fileExists(atPath: resolved, isDirectory: &isFolder) && isFolder.boolValue
                    ? try shards(in: resolved) : [resolved]
            } else if let names = value as? [Any], !names.isEmpty, names.count <= 100_000,
                let strings = names as? [String], strings.allSatisfy({ !$0.isEmpty })
            {
                files = strings.map(resolve)
            } else {
                throw DataError.unreadable(
                    path: path,
                    reason: "\"\(split.rawValue)\" must be a file name, a folder of shards or a non-empty list of file names")
            }
            return try readSet(files)
        }
        guard let train = try set(.train) else { throw DataError.unreadable(path: path, reason: "names no \"train\" set") }
        return DataSplits(train: train, validation: try set(.validation), test: try set(.test), source: path)
    }

    /// The `.npy` / `.npy.gz` files in `folder`, in name order.
    static func shards(in folder: String) throws -> [String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
            throw DataError.unreadable(path: folder, reason: "cannot list the folder of shards")
        }
        let shards = names.filter { $0.hasSuffix(".npy") || $0.hasSuffix(".npy.gz") }.sorted()
        guard !shards.isEmpty else { throw DataError.unreadable(path: folder, reason: "holds no .npy shards") }
        return shards.map { (folder as NSString).appendingPathComponent($0) }
    }

    /// One data set from `files` (NPY or IDX images, by name), read one after another; they must agree on the
    /// value type and the values per sample.
    static func readSet(_ files: [String]) throws -> ImageDataset {
        var parts: [ImageDataset] = []
        for file in files {
            let set: ImageDataset
            if file.hasSuffix(".csv") || file.hasSuffix(".csv.gz") {
                throw DataError.unreadable(
                    path: file, reason: "CSV is not read directly; convert it once: python3 Launch/csv-to-npy.py \(file) OUT.npy")
            } else if file.hasSuffix(".npy") || file.hasSuffix(".npy.gz") {
                set = try NPYReader.readDataset(path: file)
            } else {
                set = try IDXReader.readImages(path: file)
            }
            if let first = parts.first {
                guard set.pixelsPerImage == first.pixelsPerImage, set.storage.type == first.storage.type else {
                    throw DataError.unreadable(
                        path: file,
                        reason:
                            "\(set.pixelsPerImage) values of \(set.storage.type) per sample, but \(files[0]) has \(first.pixelsPerImage) of \(first.storage.type); shards of one set must agree"
                    )
                }
            }
            parts.append(set)
        }
        guard parts.count > 1 else { return parts[0] }
        return ImageDataset(
            storage: SampleStorage(concatenating: parts.map(\.storage)), rows: parts[0].rows, columns: parts[0].columns,
            sampleShape: parts[0].sampleShape)
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

/// Names in a data folder.
struct DataFolder {
    let folder: String
    init(_ folder: String) { self.folder = folder }
    func path(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
    /// The first of `names` that exists in the folder, as a path.
    func first(_ names: [String]) -> String? { names.map(path).first { FileManager.default.fileExists(atPath: $0) } }
    func isFolder(_ name: String) -> Bool {
        var isFolder: ObjCBool = false
        return FileManager.default.fileExists(atPath: path(name), isDirectory: &isFolder) && isFolder.boolValue
    }
}
