import Foundation
import Testing
import VAEDistributed
import VAEModel
@testable import VAETraining

/// Issue 13's defects under mpirun.
@Suite(.serialized) struct HostileClusterTests {
    /// Issue 13's defect 4: a rank stopped during start-up (`stall`: before the start-up agreement of the trainer)
    /// hung the job; the watchdog now covers start-up. Issue 24's item 12: a rank frozen before any setting is
    /// agreed (`startstall`) was ended only by mpirun's own timeout; start-up now has the command's own limit.
    @Test(arguments: [("stall@1:0:120", "3", 60.0), ("startstall@1:0:120", "4", 40.0)])
    func theWatchdogCoversStartUpWithTheCommandsLimit(fault: String, limit: String, seconds: Double) throws {
        let start = Date()
        let (status, output, _) = try MPITests.mpirun([
            "-n", "2", "-x", "VAE_DIST_FAULT=\(fault)", "--", MPITests.binary("vae-dist-faults"),
            "--config", FaultToleranceTests.config, "--run-dir", Fixtures.temporaryFolder("startstall", created: false),
            "--max-steps", "4",
            "--collective-timeout", limit,
        ])
        #expect(status != 0 && output.contains("watchdog") && output.contains("during start-up"), "\(output)")
        #expect(output.contains("(limit \(limit).0 s) during start-up"), "\(output)")
        #expect(Date().timeIntervalSince(start) < seconds, "took \(Date().timeIntervalSince(start)) s")
    }

    /// Defect 5: one rank with another --checkpoint-every gave MPI_ERR_TRUNCATE (exit 15) or a 300 s wait; now every
    /// setting that decides the collectives is compared at start, naming it and the ranks.
    @Test(arguments: [
        (["--checkpoint-every", "7"], "--checkpoint-every"), (["--max-steps", "5"], "--max-steps"),
        (["--resume", "latest"], "--resume"),
    ])
    func aRankWithAnotherScheduleStopsTheJobNamingIt(extra: [String], setting: String) throws {
        let cli = MPITests.binary("vae-dist")
        let dir = Fixtures.temporaryFolder("schedule", created: false)
        #expect(
            try FaultToleranceTests.run(["--config", FaultToleranceTests.config, "--run-dir", dir, "--max-steps", "1"]).0 == 0)
        let common = ["--config", FaultToleranceTests.config, "--run-dir", dir, "--max-steps", "4", "--checkpoint-every", "20"]
        let start = Date()
        let (status, output, _) = try MPITests.mpirun(
            ["-n", "1", "--", cli] + common + [":", "-n", "1", cli] + common + extra)
        #expect(
            status == 1 && output.contains("\(setting)") && output.contains("differs across ranks") && output.contains("rank 1"),
            "\(output)")
        #expect(Date().timeIntervalSince(start) < 60)
    }

    /// Defect 7: SIGTERM during the epoch-end NLL (a pass of many seconds) ended the ranks with no stop checkpoint
    /// (mpirun SIGKILLs 1 s after SIGTERM) and mpirun exited 1. Launch/mpirun.sh now hands the signal to the ranks:
    /// the NLL yields, the epoch's checkpoint and the stop's are written, and the job exits 75.
    @Test func sigtermDuringALongPassCheckpointsAndExits75() throws {
        let dir = Fixtures.temporaryFolder("nllterm", created: false)
        let config = dir + ".json"
        try
            #"{"model": {"encoder_hidden": [32], "latent_size": 4, "decoder_hidden": [32]}, "training": {"batch_size": 64}, "data": {"source": "synthetic"}, "run": {"nll_importance_samples": 5000, "nll_images": 2000, "log_every": 50}}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        let (status, output, _) = try MPITests.mpirun(
            ["-n", "2", "--", MPITests.binary("vae-dist"), "--config", config, "--run-dir", dir, "--epochs", "2"]
        ) { launcher in
            // Once epoch 1's test pass is logged the NLL (minutes of work) is running: stop the job.
            for _ in 0..<600
            where Fixtures.deterministicMetrics(in: dir).filter({ $0.contains("\"epoch\"") && $0.contains("test_loss") }).isEmpty
            {
                usleep(50_000)
            }
            usleep(500_000)
            kill(launcher, SIGTERM)
        }
        #expect(status == Interrupted.exitCode, "\(output)")
        let store = CheckpointStore(directory: dir, keep: 3)
        #expect(
            store.checkpoints().contains(CheckpointStore.fileName(step: 157)), "no epoch-end checkpoint: \(store.checkpoints())")
        #expect(output.contains("stopped by signal 15"), "\(output)")
        #expect(
            !(try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8)).contains("\"nll\""),
            "a cut-short NLL was reported")
    }
}
