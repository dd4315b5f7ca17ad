import Foundation
import Testing
@testable import VAETraining
import VAEModel

@Suite struct ImageTests {
    @Test func everyEpochWritesReconstructionAndSampleGridsThatDecode() throws {
        var config = Fixtures.smallConfiguration(runDirectory: Fixtures.temporaryFolder())
        config.epochs = 1
        _ = try Fixtures.trainer(config).run()
        let reconstructions = try PNGFile.read(path: config.runDirectory + "/reconstructions-1.png")
        #expect(reconstructions.width == 8 * 28 && reconstructions.height == 2 * 28)
        // The top row holds the test images themselves, byte for byte.
        let test = try #require(Fixtures.smallData.test).pixels
        for n in 0..<8 {
            for y in 0..<28 {
                for x in 0..<28 {
                    let expected = test[n * 784 + y * 28 + x]
                    let got = reconstructions.pixels[y * reconstructions.width + n * 28 + x]
                    if got != expected { Issue.record("image \(n) pixel (\(x), \(y)): \(got) vs \(expected)"); return }
                }
            }
        }
        let samples = try PNGFile.read(path: config.runDirectory + "/samples-1.png")
        #expect(samples.width == 224 && samples.height == 224)
        #expect(Set(samples.pixels).count > 16, "the sample grid is nearly uniform")
    }

    @Test func aTwoDimensionalLatentGetsTheManifoldGridAndEpochNLL() throws {
        var config = Fixtures.smallConfiguration(runDirectory: Fixtures.temporaryFolder())
        config.epochs = 1
        config.architecture.latentSize = 2
        config.nllImportanceSamples = 20
        config.nllImages = 10
        _ = try Fixtures.trainer(config).run()
        let manifold = try PNGFile.read(path: config.runDirectory + "/manifold-1.png")
        #expect(manifold.width == 560 && manifold.height == 560)
        #expect(Set(manifold.pixels).count > 16, "the manifold grid is nearly uniform")
        let metrics = try String(contentsOfFile: config.runDirectory + "/metrics.jsonl", encoding: .utf8)
        #expect(metrics.contains(#""type":"nll""#) && metrics.contains(#""importance_samples":20"#), "\(metrics)")
        // Quantiles: Φ⁻¹(0.5) = 0, Φ⁻¹(0.975) ≈ 1.959964.
        #expect(abs(inverseNormalCDF(0.5)) < 1e-9 && abs(inverseNormalCDF(0.975) - 1.959963985) < 1e-6)
    }

    @Test func pngRoundTripAndRejection() throws {
        let path = Fixtures.temporaryFolder() + "/grid.png"
        let pixels = (0..<(30 * 20)).map { UInt8($0 % 251) }
        try PNGFile.write(path: path, width: 30, height: 20, pixels: pixels)
        let back = try PNGFile.read(path: path)
        #expect(back.width == 30 && back.height == 20 && back.pixels == pixels)
        let bad = path + ".txt"
        _ = FileManager.default.createFile(atPath: bad, contents: Data("not a png".utf8))
        #expect(throws: ImageError.self) { try PNGFile.read(path: bad) }
    }
}
