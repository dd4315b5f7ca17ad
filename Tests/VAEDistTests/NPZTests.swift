import Foundation
import Testing
@testable import VAETraining

/// NumPy's `.npz` archives, written by numpy itself (the tests' Python): stored and deflated, the sets by their
/// member names, the values as saved; a ZIP that is not one refused naming the file.
@Suite struct NPZTests {
    static func values(_ n: Int, _ k: Int) -> UInt8 { UInt8((n * 37 + k * 11) % 256) }

    @Test(arguments: ["savez", "savez_compressed"])
    func archivesReadAsTheirSets(writer: String) throws {
        let path = Fixtures.temporaryFolder("npz") + "/data.npz"
        let script = """
            import numpy as np, sys
            n = np.arange(30)[:, None]; k = np.arange(144)[None, :]
            x = ((n * 37 + k * 11) % 256).astype(np.uint8).reshape(30, 3, 8, 6)
            np.\(writer)(sys.argv[1], x_train=x[:24], x_test=x[24:])
            """
        let (status, output) = try CLITests.python(["-c", script, path])
        try #require(status == 0, "\(output)")
        let splits = try DataSplits.load(path)
        #expect(splits.train.count == 24 && splits.test?.count == 6 && splits.train.storedDimensions == [3, 8, 6])
        for (set, first) in [(splits.train, 0), (splits.test!, 24)] {
            for i in [0, set.count - 1] {
                let got = Array(UnsafeRawBufferPointer(start: set.storage.address(ofSample: i), count: 144))
                #expect(got == (0..<144).map { Self.values(first + i, $0) }, "sample \(first + i)")
            }
        }
    }

    @Test func aZipThatIsNotAnArchiveIsRefused() throws {
        let path = Fixtures.temporaryFolder("npz-bad") + "/bad.npz"
        try Data([0x50, 0x4b, 3, 4] + [UInt8](repeating: 0, count: 40)).write(to: URL(fileURLWithPath: path))
        #expect { try DataSplits.load(path) } throws: { "\($0)".contains("bad.npz") }
    }
}
