import Foundation
import Testing
@testable import VAETraining

/// Weights in and out (Tests/python/weights_check.py): a state_dict written by Python's safetensors initializes
/// `train --init-from` with a first loss equal to a numpy forward pass, and `export` holds exactly the example
/// module's keys and shapes.
@Suite struct WeightsInteropTests {
    @Test func aPythonStateDictInitializesARunAndTheExportLoadsStrictly() throws {
        let folder = Fixtures.temporaryFolder()
        let (code, output) = try CLITests.python(["Tests/python/weights_check.py", CLITests.binary, folder])
        #expect(code == 0 && output.contains("weights ok"), "\(output)")
    }

    @Test func initFromAndResumeTogetherAreRefused() throws {
        let (status, _, err) = try CLITests.run([
            "train", "--data", "synthetic", "--resume", "latest", "--init-from", "x.safetensors",
        ])
        #expect(status != 0 && err.contains("not both"), "\(err)")
    }
}
