import Foundation
import Testing
import CSHA256
@testable import VAETraining
import VAEModel

/// Big-endian u32 words, as IDX headers store them.
func bigEndian(_ values: [UInt32]) -> [UInt8] {
    values.flatMap { v in [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: v >> UInt32($0)) } }
}

@Suite struct IDXReaderTests {

    /// Writes a valid pair of IDX files (`count` 28×28 images and labels) with optional damage.
    static func write(folder: String, count: Int = 3, images: [UInt8]? = nil, labels: [UInt8]? = nil) -> (String, String) {
        let imagePath = folder + "/images", labelPath = folder + "/labels"
        let pixels = (0..<(count * 784)).map { UInt8($0 % 256) }
        let imageBytes = images ?? bigEndian([0x803, UInt32(count), 28, 28]) + pixels
        let labelBytes = labels ?? bigEndian([0x801, UInt32(count)]) + (0..<count).map { UInt8($0 % 10) }
        _ = FileManager.default.createFile(atPath: imagePath, contents: Data(imageBytes))
        _ = FileManager.default.createFile(atPath: labelPath, contents: Data(labelBytes))
        return (imagePath, labelPath)
    }

    @Test func readsGoodFiles() throws {
        let folder = Fixtures.temporaryFolder()
        let (images, labels) = IDXReaderTests.write(folder: folder)
        let data = try IDXReader.readDataset(images: images, labels: labels)
        #expect(data.count == 3)
        #expect(data.pixels.count == 3 * 784)
        #expect(data.pixels[785] == 785 % 256)
        #expect(data.labels == [0, 1, 2])
    }

    /// Each bad case from data.md, with the error it must raise; the message must name the file.
    @Test func rejectsEachBadCaseNamingFileAndFault() throws {
        let folder = Fixtures.temporaryFolder()
        let good = bigEndian([0x803, 3, 28, 28]) + [UInt8](repeating: 7, count: 3 * 784)
        let goodLabels = bigEndian([0x801, 3]) + [1, 2, 3]
        let cases: [(String, [UInt8], [UInt8], (DataError) -> Bool, String)] = [
            (
                "labels given as images", goodLabels, goodLabels,
                {
                    if case .wrongMagic(_, 0x801, 0x803) = $0 { return true }; return false
                }, "label file"
            ),
            (
                "damaged gzip", [0x1F, 0x8B, 8, 0] + good, goodLabels,
                {
                    if case .unreadable = $0 { return true }; return false
                }, "gzip data is damaged"
            ),
            (
                "truncated", Array(good.dropLast(5)), goodLabels,
                {
                    if case .truncated = $0 { return true }; return false
                }, "truncated"
            ),
            (
                "truncated header", Array(good.prefix(9)), goodLabels,
                {
                    if case .truncated = $0 { return true }; return false
                }, "truncated"
            ),
            (
                "trailing bytes", good + [0, 0], goodLabels,
                {
                    if case .trailingBytes = $0 { return true }; return false
                }, "trailing"
            ),
            (
                "counts differ", good, bigEndian([0x801, 2]) + [1, 2],
                {
                    if case .countMismatch = $0 { return true }; return false
                }, "3 images"
            ),
            (
                "truncated labels", good, bigEndian([0x801, 3]) + [1],
                {
                    if case .truncated = $0 { return true }; return false
                }, "truncated"
            ),
        ]
        for (name, imageBytes, labelBytes, matches, phrase) in cases {
            let (images, labels) = IDXReaderTests.write(folder: folder, images: imageBytes, labels: labelBytes)
            do {
                _ = try IDXReader.readDataset(images: images, labels: labels)
                Issue.record("\(name): accepted")
            } catch let error as DataError {
                #expect(matches(error), "\(name): wrong error \(error)")
                #expect(error.description.contains(folder), "\(name): message does not name the file: \(error)")
                #expect(error.description.contains(phrase), "\(name): message '\(error)' lacks '\(phrase)'")
            }
        }
    }

    @Test func missingFileSaysHowToGetTheData() {
        #expect {
            try DataSplits.mnist(directory: "/nonexistent/mnist")
        } throws: { error in
            "\(error)".contains("/nonexistent/mnist/train-images-idx3-ubyte") && "\(error)".contains("fetch-mnist.sh")
        }
    }

    @Test func realMNISTWhenFetched() throws {
        // Runs only after Launch/fetch-mnist.sh; checks the exact sizes data.md gives.
        guard FileManager.default.fileExists(atPath: "Data/mnist/train-images-idx3-ubyte") else { return }
        let splits = try DataSplits.mnist(directory: "Data/mnist")
        #expect(splits.train.count == 60_000 && splits.test?.count == 10_000)
        #expect(splits.train.labels.prefix(5) == [5, 0, 4, 1, 9])
    }
}

@Suite struct RandomnessTests {
    @Test func sameSampleGetsSameNoiseWhateverItsBatch() {
        let data = Fixtures.smallData
        let filler = BatchFiller(seed: 1, binarization: .dynamic)
        let width = 784, latent = 4
        var inputA = [Float](repeating: 0, count: 3 * width), epsA = [Float](repeating: 0, count: 3 * latent)
        var inputB = [Float](repeating: 0, count: 2 * width), epsB = [Float](repeating: 0, count: 2 * latent)
        let batchA: [Int32] = [5, 42, 17], batchB: [Int32] = [17, 99]
        batchA.withUnsafeBufferPointer {
            filler.fill(
                input: &inputA, epsilon: &epsA, latentSize: latent, dataset: data.train, indices: $0, epoch: 3, evaluation: false)
        }
        batchB.withUnsafeBufferPointer {
            filler.fill(
                input: &inputB, epsilon: &epsB, latentSize: latent, dataset: data.train, indices: $0, epoch: 3, evaluation: false)
        }
        // Sample 17 is row 2 of A and row 0 of B.
        #expect(Array(inputA[(2 * width)..<(3 * width)]) == Array(inputB[0..<width]))
        #expect(Array(epsA[(2 * latent)..<(3 * latent)]) == Array(epsB[0..<latent]))
        #expect(Set(inputA).isSubset(of: [0, 1]), "dynamic binarization gives 0/1")
        // Another epoch draws anew.
        var inputC = [Float](repeating: 0, count: 2 * width), epsC = [Float](repeating: 0, count: 2 * latent)
        batchB.withUnsafeBufferPointer {
            filler.fill(
                input: &inputC, epsilon: &epsC, latentSize: latent, dataset: data.train, indices: $0, epoch: 4, evaluation: false)
        }
        #expect(inputC != inputB)
        #expect(epsC != epsB)
    }

    @Test func epochOrderIsAPermutationKeyedBySeedAndEpoch() {
        let a = epochPermutation(count: 1000, seed: 1, epoch: 0)
        #expect(a.sorted() == (0..<1000).map { Int32($0) })
        #expect(a == epochPermutation(count: 1000, seed: 1, epoch: 0))
        #expect(a != epochPermutation(count: 1000, seed: 1, epoch: 1))
        #expect(a != epochPermutation(count: 1000, seed: 2, epoch: 0))
    }

    @Test func normalDrawsHaveUnitMoments() {
        var stream = RandomStream(seed: 9, purpose: .prior)
        var values = [Float](repeating: 0, count: 100_001)
        stream.fillStandardNormal(&values, count: values.count)
        let mean = values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
        let variance = values.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(values.count) - mean * mean
        #expect(abs(mean) < 0.01 && abs(variance - 1) < 0.02, "mean \(mean) variance \(variance)")
    }
}

@Suite struct SHA256Tests {
    @Test func knownVectors() {
        #expect(SHA256.hash(Array("".utf8)).hexString == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hash(Array("abc".utf8)).hexString == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)).hexString
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Incremental updates across block boundaries equal one update.
        let bytes = (0..<1000).map { UInt8($0 % 251) }
        var hasher = SHA256()
        hasher.update(bytes[0..<63]); hasher.update(bytes[63..<64]); hasher.update(bytes[64..<700]); hasher.update(bytes[700...])
        #expect(hasher.finalize() == SHA256.hash(bytes))
        // FIPS 180-4's long vector: a million 'a's.
        #expect(
            SHA256.hash([UInt8](repeating: 0x61, count: 1_000_000)).hexString
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// The SHA-extension rounds (where this CPU has them) give the portable rounds' words on every block.
    @Test func bothCompressionPathsAgree() {
        var stream = RandomStream(seed: 7, purpose: .syntheticData)
        let blocks = 1000
        var data = [UInt8](repeating: 0, count: 64 * blocks)
        for i in data.indices { data[i] = UInt8(truncatingIfNeeded: stream.next()) }
        let start: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        var portable = start, dispatched = start
        for block in 0..<blocks {
            data.withUnsafeBufferPointer { bytes in
                vae_sha256_blocks_portable(&portable, bytes.baseAddress! + 64 * block, 1)
                vae_sha256_blocks(&dispatched, bytes.baseAddress! + 64 * block, 1)
            }
            #expect(portable == dispatched, "block \(block) (SHA extensions: \(vae_sha256_accelerated()))")
            if portable != dispatched { return }
        }
        var many = start
        data.withUnsafeBufferPointer { vae_sha256_blocks(&many, $0.baseAddress!, blocks) }
        #expect(many == portable)
    }
}
