import Foundation
import Testing
@testable import VAETraining

/// The `vae-dist` binary end to end (built next to the test bundle by `swift build --build-tests`).
@Suite struct CLITests {
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vae-dist").path
    }

    /// The tests' Python: `VAE_DIST_PYTHON` (Launch/test.sh sets it to the interpreter of the virtual environment
    /// Launch/python-env.sh makes), else that environment's interpreter when it exists, else `python3` on PATH.
    static var pythonInterpreter: [String] {
        if let given = ProcessInfo.processInfo.environment["VAE_DIST_PYTHON"], !given.isEmpty { return [given] }
        let venv = FileManager.default.currentDirectoryPath + "/.venv-tests/bin/python3"
        return FileManager.default.isExecutableFile(atPath: venv) ? [venv] : ["/usr/bin/env", "python3"]
    }

    /// Runs the tests' Python with ARGS from the package root; returns (status, stdout and stderr together).
    static func python(_ arguments: [String]) throws -> (Int32, String) {
        let interpreter = pythonInterpreter
        let (status, output, _) = try TestProcess.run(interpreter[0], Array(interpreter.dropFirst()) + arguments, combined: true)
        return (status, output)
    }

    /// Runs the binary; returns (status, stdout, stderr).
    static func run(_ arguments: [String]) throws -> (Int32, String, String) { try TestProcess.run(binary, arguments) }

    @Test func helpListsEveryTrainingFlag() throws {
        let (status, out, _) = try CLITests.run(["train", "--help"])
        #expect(status == 0)
        for flag in [
            "--config", "--data", "--epochs", "--max-steps", "--batch-size", "--learning-rate", "--seed",
            "--run-dir", "--resume", "--checkpoint-every", "--binarization", "--blas-threads",
        ] {
            #expect(out.contains(flag), "train --help lacks \(flag)")
        }
        let (_, evalHelp, _) = try CLITests.run(["eval", "--help"])
        #expect(evalHelp.contains("--checkpoint") && evalHelp.contains("--json"))
        // The defaults are the configuration's, shown beside each flag.
        for shown in ["(default: 128)", "(default: 0.001)", "(default: 10)", "(default: Data/mnist", "(default: 300)"] {
            #expect(out.contains(shown), "train --help lacks \(shown)")
        }
        for flag in ["--init-from", "--fine-tune", "--log-level", "--quiet", "--version"] {
            #expect(out.contains(flag), "train --help lacks \(flag)")
        }
    }

    @Test func progressLinesArePlainAndQuietKeepsOnlyWarnings() throws {
        let folder = Fixtures.temporaryFolder()
        let (status, out, err) = try CLITests.run([
            "--data", "synthetic", "--max-steps", "4", "--batch-size", "16", "--log-every", "2", "--run-dir", folder,
        ])
        #expect(status == 0, "\(err)")
        let progress = out.split(separator: "\n").filter { $0.contains("Train Epoch") }
        #expect(progress.count == 2, "\(out)")
        // No timestamp, level or label in front, and the epoch's and the whole run's ETA.
        #expect(
            progress.allSatisfy { $0.hasPrefix("Train Epoch: 1 [") && $0.contains("ETA epoch ") && $0.contains(", run ") },
            "\(out)")
        let (quiet, quietOut, quietErr) = try CLITests.run([
            "--data", "synthetic", "--max-steps", "2", "--batch-size", "16", "--run-dir", folder + "-quiet", "--quiet",
            "--reduction", "exact",
        ])
        #expect(quiet == 0 && quietOut.isEmpty, "\(quietOut)")
        #expect(quietErr.contains("warning: configuration key 'training.reduction' is deprecated"), "\(quietErr)")
        let (bad, _, badErr) = try CLITests.run(["--data", "synthetic", "--log-level", "loud"])
        #expect(bad != 0 && badErr.contains("--log-level"), "\(badErr)")
    }

    @Test func shellCompletionScriptsNameTheFlags() throws {
        for shell in ["bash", "zsh", "fish"] {
            let (status, out, err) = try CLITests.run(["--generate-completion-script", shell])
            #expect(status == 0 && out.contains("init-from") && out.contains("fine-tune"), "\(shell): \(err)")
        }
    }

    @Test func trainsThenEvaluatesWithoutASubcommand() throws {
        let folder = Fixtures.temporaryFolder("cli", created: false)
        let config = folder + ".json"
        try #"{"model": {"encoder_hidden": [16], "latent_size": 2, "decoder_hidden": [16]}, "run": {"log_every": 2}}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        let (status, out, err) = try CLITests.run([
            "--config", config, "--data", "synthetic", "--max-steps", "4",
            "--batch-size", "16", "--run-dir", folder, "--seed", "3",
        ])
        #expect(status == 0, "stderr: \(err)")
        #expect(out.contains("samples/s") && out.contains("ETA"), "\(out)")
        #expect(out.contains("saved checkpoint"))
        let checkpoint = folder + "/checkpoint-step-000000004.safetensors"
        let (evalStatus, json, evalErr) = try CLITests.run(["eval", "--checkpoint", checkpoint, "--data", "synthetic", "--json"])
        #expect(evalStatus == 0, "stderr: \(evalErr)")
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        for key in ["test_loss", "reconstruction", "kl"] {
            #expect(object?[key] is NSNumber, "eval --json lacks \(key): \(json)")
        }
        // Importance-weighted NLL on 5 images with K = 50: present, finite, and a tighter bound than the ELBO.
        let (nllStatus, nllJSON, nllErr) = try CLITests.run([
            "eval", "--checkpoint", checkpoint, "--data", "synthetic", "--json",
            "--importance-samples", "50", "--images", "5",
        ])
        #expect(nllStatus == 0, "stderr: \(nllErr)")
        let weighted = try JSONSerialization.jsonObject(with: Data(nllJSON.utf8)) as? [String: Any]
        let nll = (weighted?["nll"] as? NSNumber)?.doubleValue ?? .nan
        #expect(
            nll.isFinite && (weighted?["nll_standard_error"] as? NSNumber) != nil
                && (weighted?["nll_images"] as? NSNumber)?.intValue == 5,
            "\(nllJSON)")
        #expect(nll < ((object?["test_loss"] as? NSNumber)?.doubleValue ?? 0) + 5, "\(nllJSON) vs \(json)")
        // `sample`: 10 decodes tile into a 4 × 3 grid of 28-pixel cells.
        let (sampleStatus, _, sampleErr) = try CLITests.run([
            "sample", "--checkpoint", checkpoint, "--count", "10", "--out", folder + "/s.png",
        ])
        #expect(sampleStatus == 0, "stderr: \(sampleErr)")
        let png = try PNGFile.read(path: folder + "/s.png")
        #expect(png.width == 112 && png.height == 84)
        let lines = try String(contentsOfFile: folder + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2, "steps 2 and 4 logged")
    }

    @Test func errorsAreOneLineNamingTheFaultWithStatusOne() throws {
        let config = Fixtures.temporaryFolder("bad", created: false) + ".json"
        try #"{"training": {"batch_size": "big"}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let (status, _, err) = try CLITests.run(["train", "--config", config])
        #expect(status == 1)
        #expect(err.contains("error: configuration key 'training.batch_size': must be an integer"), "\(err)")
        let (missing, _, missingErr) = try CLITests.run(["train", "--data", "/nonexistent"])
        #expect(missing == 1 && missingErr.contains("fetch-mnist.sh"), "\(missingErr)")
        let (flag, _, flagErr) = try CLITests.run(["train", "--batch-size", "0", "--data", "synthetic"])
        #expect(flag == 1 && flagErr.contains("training.batch_size"), "\(flagErr)")
    }
}
