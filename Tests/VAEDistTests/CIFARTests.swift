import Foundation
import Testing
@testable import VAETraining

/// CIFAR-10's binary batches, generated in their format (no registry ships the data): read as `[3, 32, 32]`
/// pictures with their labels, a folder's batches as the training and test sets, the same bits as the pictures given
/// as an NPY `[N, 3, 32, 32]`, and files that are not whole records refused with the hint.
@Suite struct CIFARTests {
    /// Record `n`: its label and its 3,072 picture bytes (red, green, blue planes).
    static func record(_ n: Int) -> (UInt8, [UInt8]) {
        (UInt8(n % 10), (0..<3072).map { UInt8(($0 / 1024 * 80 + ($0 % 1024) * 3 + n * 13) % 256) })
    }

    static func batch(_ range: Range<Int>) -> [UInt8] { range.flatMap { n in [record(n).0] + record(n).1 } }

    static func folder() throws -> String {
        let folder = Fixtures.temporaryFolder("cifar")
        for (name, range) in [("data_batch_1.bin", 0..<20), ("data_batch_2.bin", 20..<36), ("test_batch.bin", 36..<44)] {
            try Data(batch(range)).write(to: URL(fileURLWithPath: folder + "/" + name))
        }
        try "not a batch".write(toFile: folder + "/batches.meta.txt", atomically: true, encoding: .utf8)
        return folder
    }

    @Test func batchesReadAsPicturesWithLabels() throws {
        let splits = try DataSplits.load(try Self.folder())
        #expect(splits.train.count == 36 && splits.test?.count == 8)
        #expect(splits.train.sampleShape == [3, 32, 32] && !splits.train.channelsLast)
        #expect(splits.train.labels == (0..<36).map { UInt8($0 % 10) })
        for n in [0, 19, 20, 35] {
            let got = Array(UnsafeRawBufferPointer(start: splits.train.storage.address(ofSample: n), count: 3072))
            #expect(got == Self.record(n).1, "picture \(n)")
        }
        let test = try #require(splits.test)
        #expect(Array(UnsafeRawBufferPointer(start: test.storage.address(ofSample: 7), count: 3072)) == Self.record(43).1)
    }

    @Test func notWholeRecordsAreRefusedWithTheHint() throws {
        let folder = Fixtures.temporaryFolder("cifar-bad")
        try Data(Self.batch(0..<3).dropLast(5)).write(to: URL(fileURLWithPath: folder + "/data_batch_1.bin"))
        #expect { try DataSplits.load(folder) } throws: {
            "\($0)".contains("data_batch_1.bin") && "\($0)".contains("binary version")
        }
    }

    @Test func aFolderOfBatchesTrainsLikeTheSameNPY() throws {
        let folder = try Self.folder()
        let npy = Fixtures.temporaryFolder("cifar-npy")
        let train = (0..<36).flatMap { Self.record($0).1 }, test = (36..<44).flatMap { Self.record($0).1 }
        try Data(npyFile(descr: "|u1", shape: [36, 3, 32, 32], data: train)).write(to: URL(fileURLWithPath: npy + "/train.npy"))
        try Data(npyFile(descr: "|u1", shape: [8, 3, 32, 32], data: test)).write(to: URL(fileURLWithPath: npy + "/test.npy"))
        let config = Fixtures.configFile(
            """
            {"model": {"latent_size": 4, "likelihood": "discretized_logistic",
              "encoder": [{"conv2d": {"out": 4, "kernel": 4, "stride": 4}}, "relu", "flatten"],
              "decoder": [{"linear": {"out": 256}}, "relu", {"unflatten": [4, 8, 8]},
                          {"conv_transpose2d": {"out": 3, "kernel": 4, "stride": 4}}]},
             "training": {"batch_size": 12, "epochs": 1}}
            """, name: "cifar")
        let hashes = try [folder, npy].map { try Fixtures.stateHashAfterTraining(config: config, data: $0, steps: 3) }
        #expect(hashes[0] == hashes[1])
    }
}
