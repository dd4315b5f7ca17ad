import Foundation
import VAESettings
import Testing
@testable import VAETraining
import VAEModel

/// Deterministic hostile-input corpora: ≥ 10,000 truncated, extended, bit-flipped and hand-made inputs per reader.
/// A crash or hang fails the whole test run; every rejection must name the file and say what is wrong.
@Suite struct HostileInputTests {
    /// Mutations of `seed` bytes, deterministic: truncations, extensions, bit flips, byte overwrites, and splices.
    static func corpus(from seed: [UInt8], count: Int, key: UInt64) -> [[UInt8]] {
        var stream = RandomStream(seed: key, purpose: .prior)
        var out: [[UInt8]] = []
        for n in 0..<count {
            var bytes = seed
            switch n % 6 {
            case 0: bytes = Array(bytes.prefix(stream.nextIndex(below: bytes.count + 1)))
            case 1: bytes += (0..<(1 + stream.nextIndex(below: 64))).map { _ in UInt8(truncatingIfNeeded: stream.next()) }
            case 2:
                for _ in 0..<(1 + stream.nextIndex(below: 4)) where !bytes.isEmpty {
                    bytes[stream.nextIndex(below: bytes.count)] ^= UInt8(1 << stream.nextIndex(below: 8))
                }
            case 3:
                // Overwrite bytes near the start (headers), where the parsers make their decisions.
                for _ in 0..<(1 + stream.nextIndex(below: 3)) where !bytes.isEmpty {
                    bytes[stream.nextIndex(below: min(bytes.count, 256))] =
                        [0x00, 0xFF, 0x7F, 0x80, 0x22, 0x7B, 0x7D, 0x2D][stream.nextIndex(below: 8)]
                }
            case 4:
                // Splice: drop or duplicate a range.
                let a = stream.nextIndex(below: bytes.count + 1), b = stream.nextIndex(below: bytes.count + 1)
                let range = min(a, b)..<max(a, b)
                if stream.nextIndex(below: 2) == 0 {
                    bytes.removeSubrange(range)
                } else {
                    bytes.insert(contentsOf: bytes[range], at: range.lowerBound)
                }
            default:
                bytes = (0..<stream.nextIndex(below: 600)).map { _ in UInt8(truncatingIfNeeded: stream.next()) }
            }
            out.append(bytes)
        }
        return out
    }

    static func write(_ bytes: [UInt8], to path: String) {
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    }

    /// Writes each input to `path` and reads it as NPY (plain or gzip): a data set whose storage matches its shape,
    /// or an error naming the file. Returns the counts of each.
    static func readEachAsNPY(_ inputs: [[UInt8]], at path: String) -> (rejected: Int, accepted: Int) {
        var rejected = 0, accepted = 0
        for (n, bytes) in inputs.enumerated() {
            write(bytes, to: path)
            do {
                let data = try NPYReader.readDataset(path: path)
                accepted += 1
                #expect(data.storage.byteCount == data.count * data.pixelsPerImage * data.storage.type.byteWidth)
            } catch let error as DataError {
                rejected += 1
                #expect(error.description.contains(path), "case \(n): \(error)")
            } catch {
                Issue.record("case \(n): not a DataError: \(error)")
            }
        }
        return (rejected, accepted)
    }

    @Test func idxReaderSurvivesTenThousandHostileFiles() throws {
        let folder = Fixtures.temporaryFolder()
        let images = folder + "/images", labels = folder + "/labels"
        let goodImages = bigEndian([0x803, 2, 28, 28]) + (0..<(2 * 784)).map { UInt8($0 % 256) }
        let goodLabels = bigEndian([0x801, 2]) + [3, 7]
        var handMade: [[UInt8]] = [
            [], [0x1F, 0x8B], bigEndian([0x803]), bigEndian([0x803, 0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF]),
            bigEndian([0x803, 0x7FFF_FFFF, 28, 28]), bigEndian([0x803, 0, 28, 28]), bigEndian([0x803, 1, 0, 0]),
            bigEndian([0x801, 0xFFFF_FFFF]), bigEndian([0x0000_0C03, 1, 28, 28]),
        ]
        handMade += HostileInputTests.corpus(from: goodImages, count: 5_000, key: 1)
        var rejected = 0, accepted = 0
        for (n, bytes) in handMade.enumerated() {
            HostileInputTests.write(bytes, to: images)
            HostileInputTests.write(goodLabels, to: labels)
            do { _ = try IDXReader.readDataset(images: images, labels: labels); accepted += 1 } catch let error as DataError {
                rejected += 1
                #expect(error.description.contains(folder), "case \(n): \(error)")
            }
        }
        for (n, bytes) in (HostileInputTests.corpus(from: goodLabels, count: 5_000, key: 2) + handMade.prefix(9)).enumerated() {
            HostileInputTests.write(goodImages, to: images)
            HostileInputTests.write(bytes, to: labels)
            do { _ = try IDXReader.readDataset(images: images, labels: labels); accepted += 1 } catch let error as DataError {
                rejected += 1
                #expect(error.description.contains(folder), "labels case \(n): \(error)")
            }
        }
        // Flipped pixel bytes are valid images, so some mutations are rightly accepted.
        #expect(rejected + accepted >= 10_000 && rejected > 7_000, "\(rejected) rejected, \(accepted) accepted")
    }

    /// The NPY reader: the header parser is checked before any mapping sized by it; every file is either a data
    /// set whose storage matches its shape or an error naming the file.
    @Test func npyReaderSurvivesTenThousandHostileFiles() throws {
        let folder = Fixtures.temporaryFolder()
        let path = folder + "/data.npy"
        let good = npyFile(descr: "<f4", shape: [3, 4], data: littleEndianBytes((0..<12).map { Float($0) }))
        let goodBytes = npyFile(descr: "|u1", shape: [2, 3, 3], data: (0..<18).map { UInt8($0) }, version: 2)
        var inputs: [[UInt8]] = [
            [], [0x93], Array("\u{93}NUMPY".utf8), npyFile(descr: "<f4", shape: [Int.max, 2], data: []),
            npyFile(descr: "<f4", shape: [-1, 2], data: []), npyFile(descr: "'", shape: [1], data: [0, 0, 0, 0]),
            [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 0xFF, 0xFF] + [UInt8](repeating: 0x20, count: 100),
            [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 6, 0] + Array("{'a':(".utf8),
            [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 40, 0] + Array("{'descr':'<f4','descr':'<f4','shape':()}".utf8),
        ]
        inputs += HostileInputTests.corpus(from: good, count: 5_000, key: 11)
        inputs += HostileInputTests.corpus(from: goodBytes, count: 5_000, key: 12)
        let (rejected, accepted) = HostileInputTests.readEachAsNPY(inputs, at: path)
        // Flipped data bytes are valid arrays, so some mutations are rightly accepted.
        #expect(rejected + accepted >= 10_000 && rejected > 5_000, "\(rejected) rejected, \(accepted) accepted")
    }

    @Test func checkpointReaderSurvivesTenThousandHostileFiles() throws {
        // A tiny model (a 2 KB file), so 10,000 decodes, SHA-256 included, take seconds even in a debug build.
        let layout = ParameterLayout(Architecture(inputSize: 6, encoderHidden: [5], latentSize: 2, decoderHidden: [5]))
        let parameters = FlatBuffer(count: layout.count), adam = Adam(parameterCount: layout.count)
        layout.initialize(parameters, seed: 1)
        let good = Checkpoint.encode(
            layout: layout, parameters: parameters, adam: adam,
            metadata: .init(
                position: TrainingPosition(globalStep: 3), adamStep: 3, configurationJSON: TrainingConfiguration().trajectoryJSON,
                dataFingerprint: "abc", worldSize: 1))
        _ = try Checkpoint.decode(good, path: "good", layout: layout, parameters: parameters, adam: adam)
        let header = Array(good.prefix(8 + Int(good[0]) + Int(good[1]) << 8))
        var inputs = HostileInputTests.corpus(from: good, count: 7_000, key: 3)
        // Mutations concentrated in the JSON header, where most decisions are made.
        inputs += HostileInputTests.corpus(from: header, count: 3_000, key: 4).map { $0 + good.dropFirst(header.count) }
        inputs += [
            Array("{}".utf8), [0, 0, 0, 0, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0, 0, 0, 0x7B, 0x7D],
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7B],
        ]
        var rejected = 0
        for (n, bytes) in inputs.enumerated() {
            do {
                _ = try Checkpoint.decode(
                    bytes, path: "/runs/hostile-\(n).safetensors", layout: layout, parameters: parameters, adam: adam)
            } catch {
                rejected += 1
                #expect("\(error)".contains("/runs/hostile-\(n).safetensors"), "case \(n): \(error)")
            }
        }
        // A mutation may leave the file valid (e.g. a flipped pad space); nearly all must be refused.
        #expect(inputs.count >= 10_000 && rejected > 9_500, "\(rejected) of \(inputs.count) rejected")
    }

    @Test func configReaderSurvivesTenThousandHostileFiles() throws {
        let good = try #require(FileManager.default.contents(atPath: "Config/mnist-pytorch-example.json"))
        var rejected = 0, accepted = 0
        for (n, bytes) in HostileInputTests.corpus(from: [UInt8](good), count: 10_000, key: 5).enumerated() {
            do { _ = try TrainingConfiguration.parse(Data(bytes), source: "hostile-\(n).json"); accepted += 1 } catch let error
                as ConfigurationError
            {
                rejected += 1
                #expect(!error.key.isEmpty && !error.problem.isEmpty, "case \(n): \(error)")
            }
        }
        #expect(rejected + accepted == 10_000 && rejected > 5_000, "\(rejected) rejected, \(accepted) accepted")
    }

    /// The manifest reader: a valid manifest's bytes mutated 10,000 ways plus hand-made ones (nesting, wrong types,
    /// special files, itself as data). Every load is a data set or an error naming a file (in the folder, or one the
    /// manifest names by absolute path).
    @Test func manifestReaderSurvivesTenThousandHostileFiles() throws {
        let folder = DataSourceTests.manifestFolder().folder
        let path = folder + "/data.json"
        let good = Array(#"{"train": "shards", "validation": ["v.npy", "t.npy"], "test": "t.npy"}"#.utf8)
        var inputs = HostileInputTests.corpus(from: good, count: 10_000, key: 21)
        inputs += [
            #"{"train": "data.json"}"#, #"{"train": "/dev/zero"}"#, #"{"train": "."}"#, #"{"train": ["shards"]}"#,
            #"{"train": null}"#, #"{"train": {"a": 1}}"#, #"{"train": "shards", "train": "t.npy"}"#,
            String(repeating: "[", count: 100_000), String(repeating: #"{"a":"#, count: 10_000), "",
            "{\"train\": \"t.npy\", \"validation\": \"v.npy\", \"test\": \"\u{0}\"}",
        ].map { Array($0.utf8) }
        var rejected = 0, accepted = 0
        for (n, bytes) in inputs.enumerated() {
            HostileInputTests.write(bytes, to: path)
            do {
                let data = try DataSplits.load(path)
                accepted += 1
                #expect(data.train.count > 0 && data.train.pixelsPerImage == 4)
            } catch let error as DataError {
                rejected += 1
                let absolute = String(decoding: bytes, as: UTF8.self).contains("\"/")
                #expect(error.description.contains(folder) || absolute, "case \(n): \(error)")
            }
        }
        #expect(rejected + accepted >= 10_000 && rejected > 5_000 && accepted > 100, "\(rejected) rejected, \(accepted) accepted")
    }

    /// `.npy.gz`: a valid compressed file's bytes mutated 3,000 ways; zlib reports damage, the NPY checks the rest.
    @Test func gzipReaderSurvivesThreeThousandHostileFiles() throws {
        let folder = Fixtures.temporaryFolder()
        let plain = folder + "/x.npy"
        DataSourceTests.write(npyFile(descr: "<f4", shape: [6, 5], data: littleEndianBytes((0..<30).map { Float($0) })), plain)
        let good = [UInt8](FileManager.default.contents(atPath: try DataSourceTests.gzip(plain))!)
        let path = folder + "/data.npy.gz"
        let (rejected, accepted) = HostileInputTests.readEachAsNPY(
            HostileInputTests.corpus(from: good, count: 3_000, key: 22), at: path)
        #expect(rejected > 2_000, "\(rejected) rejected, \(accepted) accepted")
    }
}
