import Foundation
import Testing
@testable import VAETraining
import VAEModel

/// NPY bytes as numpy.save writes them: magic, version, a header dict padded with spaces to a 64-byte boundary.
func npyFile(descr: String, shape: [Int], data: [UInt8], fortran: Bool = false, version: UInt8 = 1) -> [UInt8] {
    let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    var header = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shapeText), }"
    let prefixLength = version == 1 ? 10 : 12
    while (prefixLength + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    let length = header.utf8.count
    let lengthBytes: [UInt8] =
        version == 1
        ? [UInt8(length & 0xFF), UInt8(length >> 8)]
        : [UInt8(length & 0xFF), UInt8((length >> 8) & 0xFF), UInt8((length >> 16) & 0xFF), UInt8(length >> 24)]
    return [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0] + lengthBytes + Array(header.utf8) + data
}

extension SampleStorage {
    /// The value at `index` as a double, converted as a batch would be.
    func value(at index: Int) -> Double {
        var row = [Float](repeating: 0, count: valuesPerSample)
        row.withUnsafeMutableBufferPointer { convert(sample: index / valuesPerSample, into: $0.baseAddress!) }
        return Double(row[index % valuesPerSample])
    }
}

func littleEndianBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init) }
}

@Suite struct NPYTests {
    static func write(_ bytes: [UInt8], _ path: String) {
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    }

    @Test func readsEachTypeShapeAndVersion() throws {
        let folder = Fixtures.temporaryFolder()
        let bytes = (0..<(3 * 32 * 32)).map { UInt8($0 % 251) }
        NPYTests.write(npyFile(descr: "|u1", shape: [3, 32, 32], data: bytes), folder + "/u1.npy")
        let images = try NPYReader.readDataset(path: folder + "/u1.npy")
        #expect(images.count == 3 && images.rows == 32 && images.columns == 32 && images.labels.isEmpty)
        #expect(images.storage.value(at: 1030) == Double(Float(1030 % 251) / 255))

        let floats = (0..<(5 * 50)).map { Float($0) * 0.5 - 3 }
        NPYTests.write(npyFile(descr: "<f4", shape: [5, 50], data: littleEndianBytes(floats), version: 2), folder + "/f4.npy")
        let table = try NPYReader.readDataset(path: folder + "/f4.npy")
        #expect(table.count == 5 && table.pixelsPerImage == 50 && table.storage.type == .float32)
        #expect(table.storage.value(at: 77) == Double(floats[77]))
        #expect(table.firstValueOutsideUnitInterval()?.sample == 0)

        let doubles: [Double] = [0.25, 0.5, 0.75, 1, 0, 0.125, 0.375, 0.625]
        let doubleBytes = doubles.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init) }
        NPYTests.write(npyFile(descr: "<f8", shape: [2, 2, 2], data: doubleBytes, version: 3), folder + "/f8.npy")
        let cube = try NPYReader.readDataset(path: folder + "/f8.npy")
        #expect(cube.count == 2 && cube.rows == 2 && cube.columns == 2 && cube.storage.value(at: 5) == 0.125)
        #expect(cube.firstValueOutsideUnitInterval() == nil)

        let halves: [UInt16] = [0x3C00, 0x3800, 0xC000, 0x0000]  // 1, 0.5, −2, 0
        NPYTests.write(
            npyFile(descr: "<f2", shape: [4], data: halves.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }),
            folder + "/f2.npy")
        let column = try NPYReader.readDataset(path: folder + "/f2.npy")
        #expect(column.count == 4 && column.pixelsPerImage == 1 && column.storage.value(at: 2) == -2)
    }

    /// Each bad case, with the fault it must name; the message must name the file.
    @Test func rejectsEachBadCaseNamingFileAndFault() throws {
        let folder = Fixtures.temporaryFolder()
        let four = littleEndianBytes([0, 1, 2, 3])
        let cases: [(String, [UInt8], String)] = [
            ("fortran", npyFile(descr: "<f4", shape: [2, 2], data: four, fortran: true), "Fortran-order"),
            ("object", npyFile(descr: "|O", shape: [4], data: four), "object array"),
            ("big-endian", npyFile(descr: ">f4", shape: [4], data: four), "big-endian"),
            ("complex", npyFile(descr: "<c8", shape: [2], data: four), "dtype <c8 is not supported"),
            ("magic", Array("PK\u{3}\u{4}not npy at all".utf8), "not an NPY file"),
            ("damaged gzip", [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0, 0], "gzip data is damaged"),
            (
                "version",
                Array(npyFile(descr: "<f4", shape: [4], data: four).enumerated().map { $0.offset == 6 ? 9 : $0.element }),
                "version 9.0"
            ),
            ("truncated data", Array(npyFile(descr: "<f4", shape: [4], data: four).dropLast(3)), "truncated"),
            ("trailing data", npyFile(descr: "<f4", shape: [4], data: four) + [1], "trailing bytes"),
            ("overflow", npyFile(descr: "<f4", shape: [1 << 40, 1 << 40], data: four), "more values than can be addressed"),
            ("no samples", npyFile(descr: "<f4", shape: [0, 4], data: []), "no samples"),
            ("scalar", npyFile(descr: "<f4", shape: [], data: Array(four.prefix(4))), "0-dimensional"),
            ("header length", [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 2, 0, 0xFF, 0xFF, 0xFF, 0x7F], "more than"),
            ("not a dict", [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 5, 0] + Array("[1,2]".utf8), "not a dictionary"),
            (
                "missing key", [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 19, 0] + Array("{'descr': '<f4', }\n".utf8),
                "expected descr"
            ),
        ]
        for (name, bytes, phrase) in cases {
            let path = folder + "/\(name.replacingOccurrences(of: " ", with: "-")).npy"
            NPYTests.write(bytes, path)
            do {
                let data = try NPYReader.readDataset(path: path)
                Issue.record("\(name): accepted (\(data.count) samples)")
            } catch let error as DataError {
                #expect("\(error)".contains(path) && "\(error)".contains(phrase), "\(name): \(error)")
            }
        }
    }

    /// A FIFO (or other special file) as a data file is refused at once, not read forever.
    @Test func aFIFOIsRefusedWithoutBlocking() throws {
        let folder = Fixtures.temporaryFolder()
        let path = folder + "/train.npy"
        #expect(mkfifo(path, 0o600) == 0)
        let start = Date()
        #expect(throws: DataError.self) { try NPYReader.readDataset(path: path) }
        #expect(throws: DataError.self) { try IDXReader.readDataset(images: path, labels: path) }
        #expect(Date().timeIntervalSince(start) < 5)
    }

    /// A folder with train.npy (and optionally test.npy) is a data set.
    @Test func aFolderOfNPYFilesIsADataSet() throws {
        let folder = Fixtures.temporaryFolder()
        let bytes = (0..<(4 * 6)).map { UInt8($0 * 10) }
        NPYTests.write(npyFile(descr: "|u1", shape: [4, 6], data: bytes), folder + "/train.npy")
        let alone = try DataSplits.load(folder)
        #expect(alone.train.count == 4 && alone.test == nil && alone.validation == nil)
        NPYTests.write(npyFile(descr: "|u1", shape: [2, 6], data: Array(bytes.prefix(12))), folder + "/test.npy")
        let splits = try DataSplits.load(folder)
        #expect(splits.train.count == 4 && splits.test?.count == 2 && splits.train.pixelsPerImage == 6)
        var config = TrainingConfiguration()
        try config.adapt(to: splits)
        #expect(config.architecture.inputSize == 6, "input_size follows the data when the configuration leaves it out")
        var given = try TrainingConfiguration.parse(Data(#"{"model": {"input_size": 784}}"#.utf8))
        try given.adapt(to: splits)
        #expect(given.architecture.inputSize == 784, "an input_size the configuration gives is kept (and checked later)")
    }
}

extension NPYTests {
    /// The training file's SHA-256 is computed once and cached beside it, keyed by the file's identity; a changed
    /// file is hashed again, and a checkpoint of the old data refuses to resume on it.
    @Test func theFingerprintIsCachedBesideTheFileAndFollowsItsChanges() throws {
        let folder = Fixtures.temporaryFolder()
        let train = folder + "/train.npy"
        let values = (0..<(8 * 6)).map { UInt8($0 * 5) }
        NPYTests.write(npyFile(descr: "|u1", shape: [8, 6], data: values), train)
        NPYTests.write(npyFile(descr: "|u1", shape: [2, 6], data: Array(values.prefix(12))), folder + "/test.npy")
        let first = try DataSplits.load(folder)
        #expect(first.trainFingerprint == SHA256.hash(values).hexString)
        let cache = try String(contentsOfFile: FingerprintCache.path(for: train), encoding: .utf8).split(separator: "\n")
        #expect(cache.count == 2 && cache[1] == first.trainFingerprint)
        // A cache that matches the file's identity is what a start uses (no pass over the data).
        let planted = String(repeating: "ab", count: 32)
        try "\(cache[0])\n\(planted)\n".write(toFile: FingerprintCache.path(for: train), atomically: false, encoding: .utf8)
        #expect(try DataSplits.load(folder).trainFingerprint == planted)
        try "\(cache[0])\n\(first.trainFingerprint)\n".write(
            toFile: FingerprintCache.path(for: train), atomically: false, encoding: .utf8)

        var config = TrainingConfiguration()
        config.architecture = Architecture(inputSize: 6, encoderHidden: [4], latentSize: 2, decoderHidden: [4])
        config.batchSize = 4
        config.runDirectory = folder
        let trainer = try Trainer(configuration: config, data: first, logger: Fixtures.quietLogger)
        let checkpoint = try #require(try trainer.saveCheckpoint())

        // The same size, one value changed: the identity (modification time) changes, so the cache is ignored.
        var changed = values
        changed[7] ^= 1
        usleep(10_000)
        NPYTests.write(npyFile(descr: "|u1", shape: [8, 6], data: changed), train)
        let second = try DataSplits.load(folder)
        #expect(second.trainFingerprint == SHA256.hash(changed).hexString && second.trainFingerprint != first.trainFingerprint)
        let resumed = try Trainer(configuration: config, data: second, logger: Fixtures.quietLogger)
        do {
            _ = try resumed.restore(from: .path(checkpoint))
            Issue.record("a checkpoint of other data resumed")
        } catch {
            #expect("\(error)".contains("data"), "\(error)")
        }
    }
}
