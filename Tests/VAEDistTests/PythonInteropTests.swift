import Foundation
import Testing
@testable import VAETraining

/// Python interop (Tests/python/interop.py): Python's safetensors loads a checkpoint into the PyTorch example's
/// names and shapes, and a numpy decode of fixed z matches `vae-dist sample` for the same z.
@Suite struct PythonInteropTests {
    @Test func safetensorsInPythonReadsTheCheckpointAndNumpyDecodesLikeVaeDist() throws {
        let folder = Fixtures.temporaryFolder("interop", created: false)
        let (status, _, err) = try CLITests.run([
            "--data", "synthetic", "--max-steps", "3", "--batch-size", "16", "--run-dir", folder,
        ])
        #expect(status == 0, "\(err)")
        let (code, output) = try CLITests.python([
            "Tests/python/interop.py", CLITests.binary,
            folder + "/checkpoint-step-000000003.safetensors", folder,
        ])
        #expect(code == 0 && output.contains("interop ok"), "\(output)")
    }
}
