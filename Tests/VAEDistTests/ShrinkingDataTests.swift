import Foundation
import Testing
@testable import VAETraining

/// Issue 24, item 5: a data file that shrinks under training (truncated while a rank sleeps in an injected stall)
/// ends the run with an error naming it — never SIGBUS — and, where the parameters are still good, a checkpoint.
@Suite struct ShrinkingDataTests {
    /// A float32 NPY of `rows` × 64 values.
    static func npy(_ path: String, rows: Int) throws {
        var data = [UInt8]()
        for i in 0..<(rows * 64) { withUnsafeBytes(of: Float(i % 97) / 97) { data += $0 } }
        try Data(npyFile(descr: "<f4", shape: [rows, 64], data: data)).write(to: URL(fileURLWithPath: path))
    }

    /// Trains on a fresh folder (256 training rows: 8 steps an epoch; 1024 test rows) with `fault`, truncating
    /// `victim` to one page once the run has logged `afterLines` metrics lines (during the stall).
    static func run(fault: String, victim: String, afterLines: Int) throws -> (status: Int32, err: String, run: String) {
        let data = Fixtures.temporaryFolder("shrink-data")
        try npy(data + "/train.npy", rows: 256)
        try npy(data + "/test.npy", rows: 1024)
        let run = Fixtures.temporaryFolder("shrink-run")
        let (process, _, errPipe) = try FaultToleranceTests.start(
            [
                "train", "--data", data, "--likelihood", "gaussian", "--epochs", "3", "--batch-size", "32", "--threads", "1",
                "--checkpoint-every", "2", "--log-every", "1", "--run-dir", run, "--set", "model.encoder_hidden=[16]",
                "--set", "model.decoder_hidden=[16]", "--set", "model.latent_size=2",
            ],
            environment: ["VAE_DIST_FAULT": fault])
        for _ in 0..<400 {
            if Fixtures.deterministicMetrics(in: run).count >= afterLines { break }
            usleep(25_000)
        }
        usleep(300_000)
        #expect(truncate(data + "/" + victim, 4096) == 0)
        let err = String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, err, run)
    }

    @Test func foundBeforeItsBytesAreUsedTheStepIsCheckpointed() throws {
        let (status, err, run) = try Self.run(fault: "stallafter@0:5:3", victim: "train.npy", afterLines: 5)
        #expect(
            status == 1 && err.contains("train.npy shrank under training")
                && err.contains("checkpoint-step-000000005.safetensors of step 5 written"), "\(err)")
        #expect(CheckpointStore(directory: run, keep: 3).checkpoints().contains(CheckpointStore.fileName(step: 5)))
    }

    @Test func readDuringAStepThatStepIsNotCheckpointed() throws {
        let (status, err, run) = try Self.run(fault: "stall@0:5:3", victim: "train.npy", afterLines: 4)
        #expect(status == 1 && err.contains("step 5 read zeros in their place, so it is not checkpointed"), "\(err)")
        #expect(err.contains("the last checkpoint is") && err.contains("checkpoint-step-000000004"), "\(err)")
        #expect(!CheckpointStore(directory: run, keep: 3).checkpoints().contains(CheckpointStore.fileName(step: 5)))
    }

    @Test func aHeldOutFileThatShrankGivesNoLossAndACheckpoint() throws {
        let (status, err, run) = try Self.run(fault: "stall@0:8:3", victim: "test.npy", afterLines: 7)
        #expect(
            status == 1 && err.contains("test.npy shrank") && err.contains("in epoch 1's validation and test passes"), "\(err)")
        #expect(CheckpointStore(directory: run, keep: 3).checkpoints().contains(CheckpointStore.fileName(step: 8)))
        #expect(!Fixtures.deterministicMetrics(in: run).contains { $0.contains("test_loss") }, "a loss of zeros was reported")
    }
}
