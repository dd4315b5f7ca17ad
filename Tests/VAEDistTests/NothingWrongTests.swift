import Foundation
import Testing
@testable import VAETraining

/// Issue 24's crashes, silent wrong answers and launcher faults, as the hostile or careless user met them: data
/// sets of mixed widths, unbounded thread counts and sample counts, `eval` of a validation split re-derived from
/// other data, Launch/mpirun.sh on SIGHUP, with stdin closed or signalled early, and a start-up stall under a short
/// collective timeout. Each failed on the code before its fix.
@Suite struct NothingWrongTests {
    /// A uint8 NPY of `rows` × `width` values.
    static func npy(_ path: String, rows: Int, width: Int) throws {
        let bytes = npyFile(descr: "|u1", shape: [rows, width], data: (0..<(rows * width)).map { UInt8($0 * 7 % 256) })
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static let train = [
        "train", "--max-steps", "3", "--batch-size", "16", "--threads", "1", "--set", "model.encoder_hidden=[8]", "--set",
        "model.decoder_hidden=[8]", "--set", "model.latent_size=2",
    ]

    @Test(arguments: [("narrower", 7), ("wider", 12)])
    func everySetHasTheTrainingSetsWidthBeforeTheFirstStep(name: String, width: Int) throws {
        let data = Fixtures.temporaryFolder("width-\(name)")
        try Self.npy(data + "/train.npy", rows: 64, width: 10)
        try Self.npy(data + "/test.npy", rows: 16, width: width)
        let run = Fixtures.temporaryFolder("width-run-\(name)")
        let (status, _, err) = try CLITests.run(Self.train + ["--data", data, "--run-dir", run])
        #expect(status == 1 && err.contains("the test set has \(width) values per sample and the training set 10"), "\(err)")
        #expect(CheckpointStore(directory: run, keep: 3).checkpoints().isEmpty, "trained before refusing")
        // A manifest's validation entry of another width: the same, named.
        try Self.npy(data + "/validation.npy", rows: 16, width: width)
        let manifest = data + "/manifest.json"
        try Data(#"{"train": "train.npy", "validation": "validation.npy"}"#.utf8).write(to: URL(fileURLWithPath: manifest))
        let (manifested, _, manifestErr) = try CLITests.run(Self.train + ["--data", manifest, "--run-dir", run + "-m"])
        #expect(manifested == 1 && manifestErr.contains("the validation set has \(width) values"), "\(manifestErr)")
    }

    @Test(arguments: [["--threads", "1000000"], ["--set", "run.threads=100000"], ["--threads", "4096"], ["--threads", "60"]])
    func threadCountsAreBoundedBeforeAnyThreadStarts(flags: [String]) throws {
        let start = Date()
        let (status, _, err) = try CLITests.run(
            ["train", "--data", "synthetic", "--max-steps", "1", "--run-dir", Fixtures.temporaryFolder("threads-bound")] + flags)
        #expect(status == 1 && err.contains("run.threads"), "\(err)")
        #expect(Date().timeIntervalSince(start) < 10, "took \(Date().timeIntervalSince(start)) s")
    }

    @Test func sampleChecksItsMemoryBeforeAllocating() throws {
        let (_, checkpoint) = try NothingLostTests.run("sample-memory")
        for count in ["3000000000", "9223372036854775807"] {
            let (status, _, err) = try CLITests.run([
                "sample", "--checkpoint", checkpoint, "--count", count, "--raw-out", Fixtures.temporaryFolder("raw") + "/raw.bin",
            ])
            #expect(status == 1 && err.contains("sample --count: \(count) samples need"), "\(err)")
        }
    }

    @Test func evalOfAReDerivedValidationSetChecksTheData() throws {
        let run = Fixtures.temporaryFolder("eval-validation")
        let (trained, _, trainErr) = try CLITests.run(
            Self.train + ["--data", "synthetic", "--validation-fraction", "0.1", "--run-dir", run, "-q"])
        #expect(trained == 0, "\(trainErr)")
        let checkpoint = run + "/checkpoint-step-000000003.safetensors"
        let other = Fixtures.temporaryFolder("eval-other")
        try Self.npy(other + "/train.npy", rows: 200, width: 784)
        let (status, out, err) = try CLITests.run(["eval", "--checkpoint", checkpoint, "--data", other, "--split", "validation"])
        #expect(status == 1 && err.contains("is other data") && !out.contains("loss"), "\(out)\(err)")
        // The run's own data still evaluates; another data set's test split is the user's choice.
        let (same, sameOut, sameErr) = try CLITests.run([
            "eval", "--checkpoint", checkpoint, "--data", "synthetic", "--split", "validation",
        ])
        #expect(same == 0 && sameOut.contains("Validation set loss"), "\(sameErr)")
    }

    // Launch/mpirun.sh.

    static func job(_ name: String) -> (folder: String, arguments: [String]) {
        let folder = Fixtures.temporaryFolder(name, created: false)
        return (
            folder,
            [
                "-n", "2", "--", MPITests.binary("vae-dist"), "--config", FaultToleranceTests.config, "--run-dir", folder,
                "--epochs", "100000",
            ]
        )
    }

    /// Signals the launcher once the job has logged a step.
    static func signal(_ signal: Int32, afterFirstStepIn folder: String) -> (Int32) -> Void {
        { launcher in
            // Until metrics.jsonl has a line (its size, not its text: the file grows by thousands of lines a second).
            let metrics = folder + "/metrics.jsonl"
            for _ in 0..<600 {
                if let size = try? FileManager.default.attributesOfItem(atPath: metrics)[.size] as? Int, size > 0 { break }
                usleep(50_000)
            }
            kill(launcher, signal)
        }
    }

    static func leftovers(_ folder: String) -> String {
        let (_, out, _) = (try? TestProcess.run("/usr/bin/pgrep", ["-f", "--run-dir \(folder)"])) ?? (0, "", "")
        return out
    }

    @Test func sighupStopsTheJobLikeSIGTERM() throws {
        let (folder, arguments) = Self.job("hup")
        let (status, output, _) = try MPITests.mpirun(arguments, started: Self.signal(SIGHUP, afterFirstStepIn: folder))
        #expect(status == Interrupted.exitCode && output.contains("stopped by signal 15"), "\(output)")
        #expect(!CheckpointStore(directory: folder, keep: 3).checkpoints().isEmpty)
        usleep(300_000)
        #expect(Self.leftovers(folder).isEmpty, "ranks left running: \(Self.leftovers(folder))")
    }

    @Test func aJobStartsWithStandardInputClosed() throws {
        let folder = Fixtures.temporaryFolder("nostdin", created: false)
        let (status, output, _) = try MPITests.mpirun(
            [
                "-n", "2", "--", MPITests.binary("vae-dist"), "--config", FaultToleranceTests.config, "--run-dir", folder,
                "--max-steps", "3",
            ],
            closedStdin: true)
        #expect(status == 0 && !output.contains("No such file"), "\(output)")
    }

    @Test func sigtermGivesItsStatusEveryTime() throws {
        // Three stops mid-run: 75 each time, with the stop checkpoint.
        for round in 0..<3 {
            let (folder, arguments) = Self.job("term-\(round)")
            let (status, output, _) = try MPITests.mpirun(arguments, started: Self.signal(SIGTERM, afterFirstStepIn: folder))
            #expect(status == Interrupted.exitCode && output.contains("stopped by signal 15"), "round \(round): \(output)")
        }
        // While mpirun is still starting the ranks (as soon as the launcher has a child): handed to them once they
        // exist (75 once they checkpointed; 143 if a rank had not yet set its handler), never lost, never the
        // launcher's own death, nothing left running.
        let (folder, arguments) = Self.job("term-early")
        let (status, output, _) = try MPITests.mpirun(arguments) { launcher in
            for _ in 0..<2000 {
                let (found, _, _) =
                    (try? TestProcess.run("/usr/bin/pgrep", ["-P", "\(launcher)"])) ?? (1, "", "")
                if found == 0 { break }
                usleep(5_000)
            }
            kill(launcher, SIGTERM)
        }
        #expect([Interrupted.exitCode, 143].contains(status), "\(output)")
        usleep(300_000)
        #expect(Self.leftovers(folder).isEmpty, "left running: \(Self.leftovers(folder))")
    }
}
