import Foundation
import Testing
@testable import VAETraining
import VAEBuildInfo

/// The run folder's record: `config.json` (every setting; as `--config` it trains the same trajectory) and
/// `run.json` (the build and each start's command line and origin).
@Suite struct RunRecordTests {
    @Test func configJSONReproducesTheRunAndRunJSONRecordsEachStart() throws {
        let folder = Fixtures.temporaryFolder(), again = Fixtures.temporaryFolder("again")
        let arguments = ["train", "--run-dir", folder, "--max-steps", "3"] + ResumeSettingsTests.settings
        let (status, _, err) = try CLITests.run(arguments)
        #expect(status == 0, "\(err)")
        let (copy, _, copyErr) = try CLITests.run(["train", "--config", folder + "/config.json", "--run-dir", again])
        #expect(copy == 0, "\(copyErr)")
        let name = "/checkpoint-step-000000003.safetensors"
        #expect(try Fixtures.stateHash(again + name) == Fixtures.stateHash(folder + name))

        let (resumed, _, resumeErr) = try CLITests.run(["train", "--run-dir", folder, "--resume", "latest", "--max-steps", "4"])
        #expect(resumed == 0, "\(resumeErr)")
        let run =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/run.json"))) as? [String: Any]
        let starts = run?["starts"] as? [[String: Any]] ?? []
        #expect(starts.count == 2)
        #expect(starts.first?["command_line"] as? [String] == [CLITests.binary] + arguments)
        #expect(starts.last?["resumed_from"] as? String == folder + name && starts.last?["global_step"] as? Int == 3)
        let revision = run?["source_revision"] as? String ?? ""
        #expect(revision == "unknown" || revision.prefix(40).allSatisfy(\.isHexDigit) && revision.count >= 40, "\(revision)")
        #expect(run?["vae_dist_version"] as? String == BuildInfo.version)
    }

    @Test func versionNamesTheBuild() throws {
        let (status, out, _) = try CLITests.run(["--version"])
        #expect(status == 0 && out.contains(BuildInfo.version) && out.contains(BuildInfo.revision), "\(out)")
    }
}
