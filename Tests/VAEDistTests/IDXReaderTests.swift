import Foundation
import Testing
import CSHA256
@testable import VAETraining
import VAEModel

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

    /// Checks the exact sizes data.md gives; skipped (and reported as skipped) until Launch/fetch-mnist.sh ran.
    @Test(
        .enabled(if: FileManager.default.fileExists(atPath: "Data/mnist/train-images-idx3-ubyte"), "needs Launch/fetch-mnist.sh"))
    func realMNISTWhenFetched() throws {
        let splits = try DataSplits.mnist(directory: "Data/mnist")
        #expect(splits.train.count == 60_000 && splits.test?.count == 10_000)
        #expect(splits.train.labels.prefix(5) == [5, 0, 4, 1, 9])
    }
}
