import Foundation
import Testing
import VAEDistributed
import VAEModel
@testable import VAETraining

/// Every form `--data` takes: IDX of any size, `.gz` files, single files, shard folders, manifests, validation
/// splits and standardization.
@Suite struct DataSourceTests {
    static func write(_ bytes: [UInt8], _ path: String) {
        try? FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    }

    /// `path.gz` beside `path`, compressed by Python's gzip module (zlib underneath, as gzip(1) writes).
    static func gzip(_ path: String) throws -> String {
        let (code, output) = try CLITests.python([
            "-c", "import gzip,sys; open(sys.argv[1]+'.gz','wb').write(gzip.compress(open(sys.argv[1],'rb').read()))", path,
        ])
        #expect(code == 0, "\(output)")
        return path + ".gz"
    }

    static func values(_ set: ImageDataset) -> [[Float]] {
        (0..<set.count).map { sample in
            var row = [Float](repeating: 0, count: set.pixelsPerImage)
            row.withUnsafeMutableBufferPointer { set.convert(sample: sample, into: $0.baseAddress!) }
            return row
        }
    }

    @Test func idxOfAnySizeWithAnyLabels() throws {
        let folder = Fixtures.temporaryFolder()
        let pixels = (0..<(3 * 1024)).map { UInt8($0 % 256) }
        DataSourceTests.write(bigEndian([0x803, 3, 32, 32]) + pixels, folder + "/images32")
        DataSourceTests.write(bigEndian([0x801, 3]) + [7, 200, 13], folder + "/labels")
        let images = try IDXReader.readDataset(images: folder + "/images32", labels: folder + "/labels")
        #expect(images.rows == 32 && images.columns == 32 && images.count == 3 && images.labels == [7, 200, 13])
        #expect(images.pixels == pixels)
        // [N, d]: rows of one.
        DataSourceTests.write(bigEndian([0x802, 4, 6]) + (0..<24).map { UInt8($0) }, folder + "/table")
        let table = try IDXReader.readImages(path: folder + "/table")
        #expect(table.count == 4 && table.rows == 1 && table.columns == 6 && table.pixels[23] == 23)
        // A float IDX (type 0x0D) is refused, naming the file.
        DataSourceTests.write([0, 0, 0x0D, 2] + bigEndian([1, 1]) + [0, 0, 0, 0], folder + "/floats")
        #expect { try IDXReader.readImages(path: folder + "/floats") } throws: { "\($0)".contains(folder + "/floats") }
    }

    /// MNIST's folder layout with gzip-compressed files and no label files.
    @Test func mnistNamesGzippedWithoutLabels() throws {
        let folder = Fixtures.temporaryFolder()
        let train = (0..<(5 * 784)).map { UInt8($0 % 253) }, test = (0..<(2 * 784)).map { UInt8($0 % 7) }
        DataSourceTests.write(bigEndian([0x803, 5, 28, 28]) + train, folder + "/train-images-idx3-ubyte")
        DataSourceTests.write(bigEndian([0x803, 2, 28, 28]) + test, folder + "/t10k-images-idx3-ubyte")
        _ = try DataSourceTests.gzip(folder + "/train-images-idx3-ubyte")
        unlink(folder + "/train-images-idx3-ubyte")
        let splits = try DataSplits.load(folder)
        #expect(splits.train.pixels == train && splits.test?.pixels == test && splits.train.labels.isEmpty)
        #expect(splits.train.storage.segments[0].file == nil, "the .gz file is inflated into memory")
        #expect(splits.test?.storage.segments[0].file != nil, "the plain file is mapped")
    }

    /// `.npy.gz` reads the same values as the `.npy`; a cut or trailing stream is an error naming the file.
    @Test func gzipNPYMatchesThePlainFileAndDamageIsReported() throws {
        let folder = Fixtures.temporaryFolder()
        let floats = (0..<(6 * 5)).map { Float($0) * 0.25 - 1 }
        let plain = folder + "/x.npy"
        DataSourceTests.write(npyFile(descr: "<f4", shape: [6, 5], data: littleEndianBytes(floats)), plain)
        let compressed = try DataSourceTests.gzip(plain)
        let a = try NPYReader.readDataset(path: plain), b = try NPYReader.readDataset(path: compressed)
        #expect(DataSourceTests.values(a) == DataSourceTests.values(b) && b.count == 6 && b.storage.type == .float32)
        let gz = [UInt8](FileManager.default.contents(atPath: compressed)!)
        DataSourceTests.write(Array(gz.prefix(gz.count - 12)), folder + "/cut.npy.gz")
        #expect { try NPYReader.readDataset(path: folder + "/cut.npy.gz") } throws: { "\($0)".contains(folder + "/cut.npy.gz") }
        // One more value than the header promises, compressed.
        DataSourceTests.write(
            npyFile(descr: "<f4", shape: [6, 5], data: littleEndianBytes(floats + [9])), folder + "/long.npy")
        let long = try DataSourceTests.gzip(folder + "/long.npy")
        #expect { try NPYReader.readDataset(path: long) } throws: { "\($0)".contains("trailing") && "\($0)".contains(long) }
    }

    /// A folder `train/` of shards is one data set: the values in name order, the same as one file holding them.
    @Test func shardsReadAsOneDataSet() throws {
        let folder = Fixtures.temporaryFolder()
        let rows = (0..<(10 * 3)).map { Float($0) }
        DataSourceTests.write(npyFile(descr: "<f4", shape: [10, 3], data: littleEndianBytes(rows)), folder + "/one/train.npy")
        for (name, range) in [("part-0", 0..<4), ("part-1", 4..<5), ("part-2", 5..<10)] {
            let part = Array(rows[(range.lowerBound * 3)..<(range.upperBound * 3)])
            DataSourceTests.write(
                npyFile(descr: "<f4", shape: [range.count, 3], data: littleEndianBytes(part)),
                folder + "/sharded/train/\(name).npy")
        }
        DataSourceTests.write(
            npyFile(descr: "<f4", shape: [1, 3], data: littleEndianBytes([1, 2, 3])), folder + "/sharded/test.npy")
        let one = try DataSplits.load(folder + "/one"), sharded = try DataSplits.load(folder + "/sharded")
        #expect(sharded.train.storage.segments.count == 3 && sharded.train.count == 10 && sharded.test?.count == 1)
        #expect(DataSourceTests.values(sharded.train) == DataSourceTests.values(one.train))
        #expect(sharded.trainFingerprint == (try DataSplits.load(folder + "/sharded")).trainFingerprint)
        // A folder of only shards is a training set too.
        #expect(try DataSplits.load(folder + "/sharded/train").train.count == 10)
        // Shards that disagree on their width are refused, naming the odd one.
        DataSourceTests.write(
            npyFile(descr: "<f4", shape: [1, 4], data: littleEndianBytes([1, 2, 3, 4])), folder + "/sharded/train/part-3.npy")
        #expect { try DataSplits.load(folder + "/sharded") } throws: {
            "\($0)".contains("part-3.npy") && "\($0)".contains("must agree")
        }
    }

    /// A folder for manifests to name: `shards/s0.npy`, `shards/s1.npy` (4 × 4 bytes each, `bytes` in order),
    /// `v.npy` (2 rows) and `t.npy` (3 rows).
    static func manifestFolder() -> (folder: String, bytes: [UInt8]) {
        let folder = Fixtures.temporaryFolder("manifest")
        let bytes = (0..<(8 * 4)).map { UInt8($0) }
        for i in 0..<2 {
            write(
                npyFile(descr: "|u1", shape: [4, 4], data: Array(bytes[(16 * i)..<(16 * i + 16)])), folder + "/shards/s\(i).npy")
        }
        write(npyFile(descr: "|u1", shape: [2, 4], data: Array(bytes.prefix(8))), folder + "/v.npy")
        write(npyFile(descr: "|u1", shape: [3, 4], data: Array(bytes.prefix(12))), folder + "/t.npy")
        return (folder, bytes)
    }

    @Test func manifestNamesFilesListsAndFolders() throws {
        let (folder, bytes) = DataSourceTests.manifestFolder()
        let manifest = folder + "/data.json"
        try #"{"train": "shards", "validation": ["v.npy"], "test": "t.npy"}"#.write(
            toFile: manifest, atomically: true, encoding: .utf8)
        let splits = try DataSplits.load(manifest)
        #expect(splits.train.count == 8 && splits.validation?.count == 2 && splits.test?.count == 3)
        #expect(splits.train.pixels == bytes)
        let bad: [(String, String)] = [
            (#"{"train": "shards", "extra": 1}"#, "unknown key \"extra\""),
            (#"["train"]"#, "a JSON object"),
            (#"{"test": "t.npy"}"#, "names no \"train\""),
            (#"{"train": 3}"#, "must be a file name"),
            (#"{"train": []}"#, "must be a file name"),
            (#"{"train": "missing.npy"}"#, "missing.npy"),
            ("{\"train\": ", "not valid JSON"),
        ]
        for (text, phrase) in bad {
            try text.write(toFile: manifest, atomically: true, encoding: .utf8)
            #expect { try DataSplits.load(manifest) } throws: { "\($0)".contains(phrase) && "\($0)".contains(folder) }
        }
    }

    @Test func csvPointsToTheConverter() throws {
        let folder = Fixtures.temporaryFolder()
        DataSourceTests.write(Array("1,2\n3,4\n".utf8), folder + "/x.csv")
        #expect { try DataSplits.load(folder + "/x.csv") } throws: { "\($0)".contains("Launch/csv-to-npy.py") }
        // The converter: header detected, numbers as float32, a bad field named with its line.
        DataSourceTests.write(Array("x,y,z\n1,2,3\n-4.5,6e2,0\n".utf8), folder + "/table.csv")
        let (code, output) = try CLITests.python(["Launch/csv-to-npy.py", folder + "/table.csv", folder + "/table.npy"])
        #expect(code == 0 && output.contains("header skipped"), "\(output)")
        let table = try DataSplits.load(folder + "/table.npy").train
        #expect(DataSourceTests.values(table) == [[1, 2, 3], [-4.5, 600, 0]])
        DataSourceTests.write(Array("1,2\n3,oops\n".utf8), folder + "/bad.csv")
        let (failed, message) = try CLITests.python(["Launch/csv-to-npy.py", folder + "/bad.csv", folder + "/bad.npy"])
        #expect(failed != 0 && message.contains("bad.csv:2: field 2 ('oops') is not a number"), "\(message)")
    }

    /// The seeded validation split: disjoint, covering, its size ⌈F·N⌉, the same for the same seed.
    @Test func validationFractionIsASeededSplit() throws {
        let data = DataSplits.synthetic(trainCount: 101, testCount: 5)
        let split = try data.holdingOut(fraction: 0.2, seed: 7)
        let validation = try #require(split.validation)
        #expect(validation.count == 21 && split.train.count == 80 && split.test?.count == 5)
        let held = Set((0..<validation.count).map(validation.storedIndex))
        let kept = Set((0..<split.train.count).map(split.train.storedIndex))
        #expect(held.isDisjoint(with: kept) && held.union(kept) == Set(0..<101))
        #expect(split.trainFingerprint == data.trainFingerprint)
        let again = try data.holdingOut(fraction: 0.2, seed: 7), other = try data.holdingOut(fraction: 0.2, seed: 8)
        #expect(again.validation?.selection == validation.selection && other.validation?.selection != validation.selection)
        #expect(throws: DataError.self) { try split.holdingOut(fraction: 0.1, seed: 7) }
        #expect(throws: DataError.self) { try data.holdingOut(fraction: 0.9999, seed: 7) }
    }

    /// Standardization: measured on the training set, applied by the filler, stored in the checkpoint, and used
    /// by eval so its validation loss equals the epoch-end pass's exactly.
    @Test func standardizationTravelsWithTheCheckpoint() throws {
        let folder = Fixtures.temporaryFolder()
        let rows = 64, width = 5
        var values: [Float] = []
        var stream = RandomStream(seed: 3, purpose: .syntheticData)
        for _ in 0..<rows {
            for j in 0..<width { values.append(Float(j * 100) + Float(j + 1) * 10 * (stream.nextUnitFloat() - 0.5)) }
        }
        DataSourceTests.write(
            npyFile(descr: "<f4", shape: [rows, width], data: littleEndianBytes(values)), folder + "/train.npy")
        let data = try DataSplits.load(folder + "/train.npy").holdingOut(fraction: 0.25, seed: 1)
        #expect(data.test == nil && data.validation?.count == 16)
        let measured = Standardization.measure(data.train)
        #expect(abs(measured.mean[3] - 300) < 10 && measured.deviation[3] > 5 && measured.deviation[3] < 30)
        var config = TrainingConfiguration()
        config.architecture = Architecture(
            inputSize: width, encoderHidden: [8], latentSize: 2, decoderHidden: [8], likelihood: .gaussian(.learned))
        config.batchSize = 16
        config.epochs = 1
        config.standardize = true
        config.validationFraction = 0.25
        config.runDirectory = folder + "/run"
        let summary = try Trainer(configuration: config, data: data, logger: Fixtures.quietLogger).run()
        let logged = try #require(summary.epochs[0].validation)
        #expect(summary.epochs[0].test == nil)
        let checkpoint = try #require(summary.lastCheckpoint)
        let stored = try LoadedModel.load(checkpoint: checkpoint, communicator: SingleProcessCommunicator()).metadata
        #expect(stored.standardization == measured)
        // eval re-derives the split from the stored configuration and applies the stored standardization.
        let result = try Evaluation.evaluate(
            checkpoint: checkpoint, data: try DataSplits.load(folder + "/train.npy"), split: .validation)
        #expect(result.loss == logged.loss / Double(logged.samples) && result.samples == 16)
        #expect(throws: DataError.self) {
            try Evaluation.evaluate(checkpoint: checkpoint, data: try DataSplits.load(folder + "/train.npy"), split: .test)
        }
        // Without standardization the Gaussian sees raw values in the hundreds: a larger loss, or none at all
        // (the first step's log-variances overflow).
        var plain = config
        plain.standardize = false
        plain.runDirectory = folder + "/plain"
        do {
            let unstandardized = try Trainer(configuration: plain, data: data, logger: Fixtures.quietLogger).run()
            #expect(unstandardized.epochs[0].validation!.loss > logged.loss)
        } catch {
            #expect("\(error)".contains("not finite"), "\(error)")
        }
        // sample --raw-out writes in the data's units.
        try Evaluation.sample(checkpoint: checkpoint, count: 200, seed: 1, out: nil, rawOut: folder + "/raw")
        let raw = [UInt8](FileManager.default.contents(atPath: folder + "/raw")!)
        let decoded = raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let featureThree = stride(from: 3, to: decoded.count, by: width).map { Double(decoded[$0]) }
        let mean = featureThree.reduce(0, +) / Double(featureThree.count)
        #expect(decoded.count == 200 * width && abs(mean - 300) < 30, "feature 3's decoded mean \(mean)")
    }

    @Test func standardizationNeedsTheGaussianLikelihood() throws {
        #expect { try TrainingConfiguration.parse(Data(#"{"data": {"standardize": true}}"#.utf8)) } throws: {
            "\($0)".contains("data.standardize") && "\($0)".contains("gaussian")
        }
        _ = try TrainingConfiguration.parse(Data(#"{"model": {"likelihood": "gaussian"}, "data": {"standardize": true}}"#.utf8))
    }
}
