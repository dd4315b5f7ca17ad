import Foundation
import Testing
@testable import VAETraining

/// TensorBoard: the run folder's event file, read back by the Python `tensorboard` package, holds the scalars
/// metrics.jsonl holds and an image grid per epoch (Tests/python/tensorboard_check.py).
@Suite struct TensorBoardTests {
    @Test func tensorboardReadsTheScalarsAndImagesBack() throws {
        let folder = Fixtures.temporaryFolder("tb", created: false)
        let (status, _, err) = try CLITests.run([
            "--data", "synthetic", "--epochs", "2", "--batch-size", "64",
            "--log-every", "40", "--run-dir", folder,
        ])
        #expect(status == 0, "\(err)")
        let (code, output) = try CLITests.python(["Tests/python/tensorboard_check.py", folder])
        #expect(code == 0 && output.contains("tensorboard ok"), "\(output)")
    }

    @Test func crc32cMatchesTheStandardCheckValue() {
        // CRC-32C of "123456789" is 0xE3069283 (RFC 3720's check value).
        #expect(TensorBoardWriter.crc32c(Array("123456789".utf8)) == 0xE306_9283)
    }
}
