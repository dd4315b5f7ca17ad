import Foundation
import Testing
import VAEDistributed
import VAEModel
@testable import VAETraining

/// Issue 13's defects, each as the hostile user or bad day met it: every one of these crashed, hung or lost a run
/// before its fix.
@Suite struct HostileUseTests {
    /// A model whose checkpoint is ≈ 48 KB, smaller than a few hundred steps of metrics and events.
    static let tinyConfig = Fixtures.configFile(
        #"{"model": {"encoder_hidden": [2], "latent_size": 1, "decoder_hidden": [2]}, "training": {"batch_size": 32}, "data": {"source": "synthetic"}, "run": {"log_every": 1}}"#,
        name: "tiny")

    /// TFRecord framing of an event file: whole records only, ending exactly at the file's end.
    static func wholeRecords(_ path: String) -> Bool {
        guard let bytes = FileManager.default.contents(atPath: path).map({ [UInt8]($0) }) else { return false }
        var offset = 0
        while offset < bytes.count {
            guard offset + 12 <= bytes.count else { return false }
            let length = (0..<8).reduce(0) { $0 | Int(bytes[offset + $1]) << (8 * $1) }
            offset += 12 + length + 4
        }
        return offset == bytes.count
    }

    /// Defect 1: a full disk (here a 64 KB file-size limit: EFBIG) while writing the event file or metrics.jsonl was a
    /// SIGILL with a torn record and no checkpoint. Now: one error line naming the file, a checkpoint of the step,
    /// whole records in both files, and the run resumes.
    @Test func aLogWriteFailureStopsWithAnErrorAndACheckpoint() throws {
        let dir = Fixtures.temporaryFolder("logfull", created: false)
        let base = ["--config", HostileUseTests.tinyConfig, "--run-dir", dir, "--blas-threads", "1"]
        let (status, out, err) = try FaultToleranceTests.run(base + ["--max-steps", "600"], shellPrefix: "ulimit -f 64")
        #expect(status == 1, "\(err)")
        let errors = err.split(separator: "\n").filter { $0.hasPrefix("error:") }
        #expect(errors.count == 1 && err.contains("File too large") && err.contains("continue with --resume latest"), "\(err)")
        let latest = try #require(try CheckpointStore(directory: dir, keep: 3).latest(), "no checkpoint: \(out)")
        let step = Int(latest.split(separator: "-").last!.prefix(9))!
        #expect(step > 0 && step < 600)
        let lines = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil }, "a torn metrics line")
        let events = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("events.out") }
        #expect(events.count == 1 && HostileUseTests.wholeRecords(dir + "/" + events[0]), "a torn event record")
        // With room again, the run continues from that checkpoint.
        let (resumed, _, resumeErr) = try FaultToleranceTests.run(base + ["--max-steps", "\(step + 3)", "--resume", "latest"])
        #expect(resumed == 0, "\(resumeErr)")
    }

    /// Defect 2: values that overflow a 32-bit float are refused at configuration time, naming the key.
    @Test(arguments: [
        ("training.learning_rate", #"{"training": {"learning_rate": 1e39}}"#),
        ("training.kl_weight", #"{"training": {"kl_weight": 1e39}}"#),
        ("training.adam_epsilon", #"{"training": {"adam_epsilon": 1e-50}}"#),
        ("model.gaussian_variance", #"{"model": {"likelihood": "gaussian", "gaussian_variance": 1e-50}}"#),
    ])
    func valuesThatOverflowAFloatAreRefused(key: String, json: String) {
        #expect { try TrainingConfiguration.parse(Data(json.utf8)) } throws: {
            "\($0)".contains(key) && "\($0)".contains("32-bit")
        }
    }

    /// Defect 2: no checkpoint of non-finite state is written (it could never be loaded).
    @Test func nonFiniteStateIsNotCheckpointed() throws {
        var config = Fixtures.smallConfiguration(runDirectory: Fixtures.temporaryFolder())
        config.maxSteps = 1
        let trainer = try Fixtures.trainer(config)
        trainer.model.parameters.pointer[17] = .infinity
        #expect { try trainer.saveCheckpoint() } throws: { "\($0)".contains("non-finite") && "\($0)".contains("element 17") }
        #expect(try trainer.store.latest() == nil && trainer.store.checkpoints().isEmpty)
    }

    /// Defect 12: `vae-dist train | head -1` was killed by SIGPIPE (exit 141) without a checkpoint.
    @Test func aClosedStdoutDoesNotEndTheRun() throws {
        let dir = Fixtures.temporaryFolder("pipe", created: false)
        let (status, _, err) = try TestProcess.run(
            "/bin/bash",
            [
                "-c", "\"$0\" --config \"$1\" --run-dir \"$2\" --max-steps 40 | head -1 >/dev/null; exit ${PIPESTATUS[0]}",
                MPITests.binary("vae-dist"), HostileUseTests.tinyConfig, dir,
            ])
        #expect(status == 0, "\(err)")
        #expect(try CheckpointStore(directory: dir, keep: 3).latest()?.hasSuffix(CheckpointStore.fileName(step: 40)) == true)
    }

    /// Defect 13: `sample --out` replaced whatever was at the path (a device, a FIFO, a symlink's target).
    @Test func writersReplaceOnlyRegularFiles() throws {
        let folder = Fixtures.temporaryFolder()
        let target = folder + "/target.png"
        try "keep me".write(toFile: target, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: folder + "/link.png", withDestinationPath: target)
        #expect(mkfifo(folder + "/fifo.png", 0o600) == 0)
        // A character device of our own (a copy of /dev/null's numbers; root only), never the system's: on a build
        // without the fix this test would replace it.
        let device = folder + "/null.png"
        let haveDevice = mknod(device, S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0
        for path in [folder + "/link.png", folder + "/fifo.png", folder] + (haveDevice ? [device] : []) {
            #expect { try AtomicFile.write([1, 2, 3], to: path) } throws: {
                "\($0)".contains("not a regular file") || "\($0)".contains("regular files")
            }
        }
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep me")
        var info = stat()
        #expect(lstat(folder + "/link.png", &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK)
        #expect(!haveDevice || (lstat(device, &info) == 0 && (info.st_mode & S_IFMT) == S_IFCHR))
        try AtomicFile.write([1, 2, 3], to: target)  // a regular file is replaced as before
        #expect(FileManager.default.contents(atPath: target) == Data([1, 2, 3]))
    }

    /// Defect 6: two trainings in one run folder; the second now refuses, naming the first's PID, and leaves the
    /// first's files alone.
    @Test func aSecondRunInTheSameFolderIsRefused() throws {
        let dir = Fixtures.temporaryFolder("twice", created: false)
        let base = ["--config", HostileUseTests.tinyConfig, "--run-dir", dir, "--blas-threads", "1"]
        let first = try FaultToleranceTests.start(base + ["--max-steps", "100000", "--log-every", "50"])
        for _ in 0..<300 where Fixtures.deterministicMetrics(in: dir).count < 2 { usleep(50_000) }
        let (status, _, err) = try FaultToleranceTests.run(base + ["--max-steps", "10"])
        #expect(status == 1 && err.contains("Another vae-dist (PID \(first.0.processIdentifier))"), "\(err)")
        kill(first.0.processIdentifier, SIGTERM)
        let (firstStatus, _, firstErr) = FaultToleranceTests.finish(first)
        #expect(firstStatus == Interrupted.exitCode, "\(firstErr)")
        // Once the first has ended, its folder takes a resume, never a fresh run (that would truncate its metrics
        // and rotate its checkpoints away).
        let (fresh, _, freshErr) = try FaultToleranceTests.run(base + ["--max-steps", "10"])
        #expect(fresh == 1 && freshErr.contains("holds another run") && freshErr.contains("--resume latest"), "\(freshErr)")
        #expect(try FaultToleranceTests.run(base + ["--max-steps", "10", "--resume", "latest"]).0 == 0)
    }

    /// Without --run-dir each run gets runs/NAME/version_N (NAME: the configuration file's), and --resume continues
    /// the newest.
    @Test func runsWithoutARunDirGetNumberedFolders() throws {
        let name = "vae-dist-test-\(UUID().uuidString.prefix(8))"
        let config = NSTemporaryDirectory() + name + ".json"
        try FileManager.default.copyItem(atPath: HostileUseTests.tinyConfig, toPath: config)
        let root = "runs/" + name
        defer { try? FileManager.default.removeItem(atPath: root) }
        for expected in ["version_0", "version_1"] {
            let (status, out, err) = try FaultToleranceTests.run(["--config", config, "--max-steps", "3"])
            #expect(status == 0 && out.contains(root + "/" + expected), "\(out)\(err)")
        }
        let (resumed, out, err) = try FaultToleranceTests.run(["--config", config, "--max-steps", "5", "--resume", "latest"])
        #expect(resumed == 0 && out.contains("resumed from \(root)/version_1/"), "\(out)\(err)")
        #expect(!FileManager.default.fileExists(atPath: root + "/version_2"))
    }

    /// Defect 8: `eval --importance-samples 5000` ignored SIGTERM (it needed SIGKILL).
    @Test func evalEndsOnSIGTERM() throws {
        let dir = Fixtures.temporaryFolder("evalterm", created: false)
        #expect(
            try FaultToleranceTests.run(["--config", FaultToleranceTests.config, "--run-dir", dir, "--max-steps", "1"]).0 == 0)
        let checkpoint = try #require(try CheckpointStore(directory: dir, keep: 3).latest())
        let started = try FaultToleranceTests.start(
            ["eval", "--checkpoint", checkpoint, "--data", "synthetic", "--importance-samples", "5000"], binary: "vae-dist")
        usleep(1_500_000)
        let sent = Date()
        kill(started.0.processIdentifier, SIGTERM)
        let (status, _, _) = FaultToleranceTests.finish(started)
        #expect(status == 128 + SIGTERM || started.0.terminationReason == .uncaughtSignal, "status \(status)")
        #expect(Date().timeIntervalSince(sent) < 3, "eval took \(Date().timeIntervalSince(sent)) s to stop")
    }

    /// Defect 10: sizes nothing can hold were a failed allocation (a backtrace) or a hang; now an error naming the key.
    @Test(arguments: [
        ("model.encoder_hidden", #"{"model": {"encoder_hidden": [1000000000]}}"#),
        ("training.batch_size", #"{"training": {"batch_size": 100000000000}}"#),
        ("model.latent_size", #"{"model": {"latent_size": 999999999999999}}"#),
    ])
    func sizesThatCannotFitAreRefused(key: String, json: String) {
        #expect { try TrainingConfiguration.parse(Data(json.utf8)) } throws: { "\($0)".contains(key) }
    }

    @Test func aHiddenListOfMillionsIsRefusedAtOnce() {
        let json = #"{"model": {"encoder_hidden": ["# + Array(repeating: "1", count: 5_000_000).joined(separator: ",") + "]}}"
        let start = Date()
        #expect { try TrainingConfiguration.parse(Data(json.utf8)) } throws: { "\($0)".contains("at most 64 layers") }
        #expect(Date().timeIntervalSince(start) < 20)
    }

    /// Defect 9: a crafted checkpoint (a huge hidden size in its stored configuration) made eval allocate before any
    /// check, and abort.
    @Test func aCheckpointAskingForTooMuchMemoryIsRefused() throws {
        var config = Fixtures.smallConfiguration(runDirectory: Fixtures.temporaryFolder())
        let trainer = try Fixtures.trainer(config)
        let layout = trainer.model.layout
        config.architecture.encoderHidden = [4_000_000_000]
        let json = config.trajectoryJSON
        let bytes = Checkpoint.encode(
            layout: layout, parameters: trainer.model.parameters, adam: trainer.optimizer,
            metadata: .init(
                position: TrainingPosition(), adamStep: 0, configurationJSON: json, dataFingerprint: "x", worldSize: 1))
        let path = config.runDirectory + "/crafted.safetensors"
        try AtomicFile.write(bytes, to: path)
        #expect { try Evaluation.evaluate(checkpoint: path, data: Fixtures.smallData) } throws: {
            "\($0)".contains("model.encoder_hidden")
        }
    }

    /// Defect 11: a test set of 0 images crashed at the end of epoch 1; an empty training set did nothing with exit 0.
    @Test func emptySetsAreErrorsBeforeTraining() throws {
        let folder = Fixtures.temporaryFolder()
        DataSourceTests.write(
            bigEndian([0x803, 3, 28, 28]) + [UInt8](repeating: 1, count: 3 * 784), folder + "/train-images-idx3-ubyte")
        DataSourceTests.write(bigEndian([0x803, 0, 28, 28]), folder + "/t10k-images-idx3-ubyte")
        #expect { try DataSplits.load(folder) } throws: {
            "\($0)".contains("t10k-images-idx3-ubyte") && "\($0)".contains("at least one sample")
        }
        DataSourceTests.write(npyFile(descr: "|u1", shape: [0, 4], data: []), folder + "/empty.npy")
        #expect { try DataSplits.load(folder + "/empty.npy") } throws: { "\($0)".contains("no samples") }
    }

    /// Defects 3 and 14: a FIFO, folder or device given as a checkpoint, `latest` pointer, configuration or
    /// fingerprint cache hung or read as "not found"; a huge file was read whole before its header was checked.
    @Test func specialAndHugeFilesAreRefusedAtOnce() throws {
        let folder = Fixtures.temporaryFolder()
        let start = Date()
        #expect(mkfifo(folder + "/fifo.safetensors", 0o600) == 0)
        for path in [folder + "/fifo.safetensors", folder] {
            #expect { try Evaluation.evaluate(checkpoint: path, data: Fixtures.smallData) } throws: {
                "\($0)".contains("not a regular file")
            }
        }
        #expect(mkfifo(folder + "/config.json", 0o600) == 0)
        #expect { try TrainingConfiguration.load(path: folder + "/config.json") } throws: {
            "\($0)".contains("not a regular file")
        }
        let run = folder + "/run"
        try FileManager.default.createDirectory(atPath: run + "/latest", withIntermediateDirectories: true)
        #expect { try CheckpointStore(directory: run, keep: 3).latest() } throws: { "\($0)".contains("not a regular file") }
        // 4 GiB, sparse, with a header that describes nothing: refused from its first bytes.
        let huge = folder + "/huge.safetensors"
        let descriptor = open(huge, O_WRONLY | O_CREAT, 0o644)
        #expect(ftruncate(descriptor, 1 << 32) == 0)
        _ = pwrite(descriptor, [16, 0, 0, 0, 0, 0, 0, 0] + Array(#"{"a":1}         "#.utf8), 24, 0)
        close(descriptor)
        #expect { try Evaluation.evaluate(checkpoint: huge, data: Fixtures.smallData) } throws: { "\($0)".contains(huge) }
        unlink(huge)
        // A FIFO where the fingerprint cache goes is passed over (the hash is computed instead).
        let data = folder + "/data"
        DataSourceTests.write(npyFile(descr: "|u1", shape: [2, 3], data: [1, 2, 3, 4, 5, 6]), data + "/train.npy")
        #expect(mkfifo(data + "/train.npy.sha256", 0o600) == 0)
        #expect(try DataSplits.load(data).trainFingerprint == SHA256.hash([1, 2, 3, 4, 5, 6]).hexString)
        #expect(Date().timeIntervalSince(start) < 10, "took \(Date().timeIntervalSince(start)) s")
    }

    /// A smaller one: step 2^31 was named `checkpoint-step--00000001` (32-bit formatting).
    @Test func checkpointNamesHoldSixtyFourBitSteps() {
        #expect(CheckpointStore.fileName(step: 7) == "checkpoint-step-000000007.safetensors")
        #expect(CheckpointStore.fileName(step: 1 << 31) == "checkpoint-step-2147483648.safetensors")
        #expect(CheckpointStore.fileName(step: 1 << 40) == "checkpoint-step-1099511627776.safetensors")
    }

    /// Smaller ones in the configuration: duplicate keys or sections were last-wins, a 100 MB value was echoed
    /// whole, conflicting deprecated keys were resolved silently, the micro-batch hint could name the failing value.
    @Test func configurationContradictionsAreErrors() throws {
        #expect { try TrainingConfiguration.parse(Data(#"{"training": {"epochs": 2, "epochs": 3}}"#.utf8)) } throws: {
            "\($0)".contains("'training.epochs'") && "\($0)".contains("given twice")
        }
        #expect { try TrainingConfiguration.parse(Data(#"{"model": {"latent_size": 2}, "model": {}}"#.utf8)) } throws: {
            "\($0)".contains("'model'") && "\($0)".contains("given twice")
        }
        _ = try TrainingConfiguration.parse(Data(#"{"model": {"latent_size": 2}, "training": {"epochs": 2}}"#.utf8))
        let long = String(repeating: "x", count: 10_000_000)
        #expect { try TrainingConfiguration.parse(Data("{\"data\": {\"binarization\": \"\(long)\"}}".utf8)) } throws: {
            "\($0)".count < 3000 && "\($0)".contains("data.binarization")
        }
        #expect {
            try TrainingConfiguration.parse(Data(#"{"training": {"reduction": "exact", "sharded_optimizer": true}}"#.utf8))
        } throws: {
            "\($0)".contains("another deprecated key")
        }
        let hint = ExchangeError.microBatchesNotDivisible(batchSize: 100, microBatches: 8, ranks: 1).description
        #expect(hint.contains("to 10.") && !hint.contains("e.g. 8"), "\(hint)")
        let none = ExchangeError.microBatchesNotDivisible(batchSize: 6, microBatches: 4, ranks: 4).description
        #expect(none.contains("multiple of 4"), "\(none)")
    }

    @Test func batchSizeAndBatchPerRankTogetherAreAnError() throws {
        let (status, _, err) = try CLITests.run(["train", "--data", "synthetic", "--batch-size", "64", "--batch-per-rank", "32"])
        #expect(status != 0 && err.contains("not both"), "\(err)")
    }

    /// A smaller one: the checkpoint's metadata (position, Adam step, epoch sums) was covered by no checksum, so an
    /// edited step resumed silently.
    @Test func editedCheckpointMetadataIsRefused() throws {
        var config = Fixtures.smallConfiguration(runDirectory: Fixtures.temporaryFolder())
        config.maxSteps = 3
        let summary = try Fixtures.trainer(config).run()
        let path = try #require(summary.lastCheckpoint)
        var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        let needle = Array(#""global_step":"3""#.utf8)
        let at = try #require((0...(bytes.count - needle.count)).first { Array(bytes[$0..<($0 + needle.count)]) == needle })
        bytes[at + needle.count - 2] = UInt8(ascii: "9")
        try AtomicFile.write(bytes, to: path)
        #expect { try Fixtures.trainer(config).restore(from: .path(path)) } throws: { "\($0)".contains("metadata_sha256") }
    }

    /// A smaller one: `--resume latest` created a missing run folder before failing.
    @Test func resumeLatestInAMissingFolderCreatesNothing() throws {
        let dir = Fixtures.temporaryFolder("missing", created: false)
        let (status, _, err) = try FaultToleranceTests.run([
            "--config", HostileUseTests.tinyConfig, "--run-dir", dir, "--resume", "latest",
        ])
        #expect(status == 1 && err.contains("no 'latest' checkpoint"), "\(err)")
        #expect(!FileManager.default.fileExists(atPath: dir))
    }
}
