import Foundation
import Testing
@testable import VAETraining

/// Faults end runs cleanly and the state on disk stays usable: signals, NaNs, a failing write, a stalled rank,
/// diverged replicas, a dead rank. Runs the `vae-dist` CLI (and mpirun under `--timeout`).
@Suite(.serialized) struct FaultToleranceTests {
    static let config = Fixtures.configFile(
        #"{"model": {"encoder_hidden": [32], "latent_size": 4, "decoder_hidden": [32]}, "training": {"batch_size": 32}, "data": {"source": "synthetic"}, "run": {"log_every": 1}}"#,
        name: "faults")

    /// Starts the CLI (`vae-dist-faults`, the test build that injects faults, when `environment` names one);
    /// `environment` adds variables; `shellPrefix` runs it through `bash -c` (for ulimit).
    static func start(
        _ arguments: [String], environment: [String: String] = [:], shellPrefix: String? = nil,
        binary: String? = nil
    ) throws -> (Process, Pipe, Pipe) {
        let cli = MPITests.binary(binary ?? (environment["VAE_DIST_FAULT"] != nil ? "vae-dist-faults" : "vae-dist"))
        let (executable, launched) =
            shellPrefix.map { ("/bin/bash", ["-c", "\($0); exec \"$0\" \"$@\"", cli] + arguments) } ?? (cli, arguments)
        return try TestProcess.launch(
            executable, launched, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
    }

    static func finish(_ started: (Process, Pipe, Pipe)) -> (Int32, String, String) { TestProcess.finish(started) }

    static func run(
        _ arguments: [String], environment: [String: String] = [:], shellPrefix: String? = nil,
        binary: String? = nil
    ) throws -> (Int32, String, String) {
        finish(try start(arguments, environment: environment, shellPrefix: shellPrefix, binary: binary))
    }

    /// The injected faults live in the test build only: the production binary ignores VAE_DIST_FAULT.
    @Test func vaeDistItselfInjectsNoFaults() throws {
        let dir = Fixtures.temporaryFolder("no-fault", created: false)
        let (status, _, err) = try FaultToleranceTests.run(
            [
                "--config", FaultToleranceTests.config, "--run-dir", dir,
                "--max-steps", "4",
            ],
            environment: ["VAE_DIST_FAULT": "nan@0:3"], binary: "vae-dist")
        #expect(status == 0 && !err.contains("not finite"), "\(err)")
    }

    @Test func sigtermFinishesTheStepCheckpointsAndResumesExactly() throws {
        let dir = Fixtures.temporaryFolder("sigterm", created: false)
        let base = ["--config", FaultToleranceTests.config, "--blas-threads", "1", "--run-dir", dir]
        let started = try FaultToleranceTests.start(base + ["--max-steps", "100000"])
        // Wait for some progress, then SIGTERM.
        for _ in 0..<300 where Fixtures.deterministicMetrics(in: dir).count < 5 { usleep(50_000) }
        kill(started.0.processIdentifier, SIGTERM)
        let (status, _, err) = FaultToleranceTests.finish(started)
        #expect(status == Interrupted.exitCode, "\(err)")
        let match = try #require(err.firstMatch(of: #/after step (\d+); checkpoint (\S+) written/#), "\(err)")
        let step = Int(match.1)!
        #expect(try CheckpointStore(directory: dir, keep: 3).latest() == String(match.2))
        // Resume to step + 6; an uninterrupted run to the same step has the same bits and losses.
        let (resumed, _, resumeErr) = try FaultToleranceTests.run(base + ["--max-steps", "\(step + 6)", "--resume", "latest"])
        #expect(resumed == 0, "\(resumeErr)")
        let straight = Fixtures.temporaryFolder("straight", created: false)
        _ = try FaultToleranceTests.run([
            "--config", FaultToleranceTests.config, "--blas-threads", "1", "--run-dir", straight,
            "--max-steps", "\(step + 6)",
        ])
        let name = "/" + CheckpointStore.fileName(step: step + 6)
        #expect(try Fixtures.stateHash(dir + name) == Fixtures.stateHash(straight + name))
        #expect(Fixtures.deterministicMetrics(in: dir) == Fixtures.deterministicMetrics(in: straight))
    }

    @Test func nonFiniteLossStopsWithStepAndTermAndWritesNoCheckpointForIt() throws {
        let dir = Fixtures.temporaryFolder("nan", created: false)
        let (status, _, err) = try FaultToleranceTests.run(
            [
                "--config", FaultToleranceTests.config, "--run-dir", dir,
                "--max-steps", "10", "--checkpoint-every", "2",
            ],
            environment: ["VAE_DIST_FAULT": "nan@0:3"])
        #expect(status == 1 && err.contains("step 3: the reconstruction loss is not finite"), "\(err)")
        #expect(CheckpointStore(directory: dir, keep: 3).checkpoints() == [CheckpointStore.fileName(step: 2)])
    }

    @Test func aNaNOnOneRankStopsEveryRankAtTheSameStep() throws {
        let dir = Fixtures.temporaryFolder("nan-mpi", created: false)
        let (status, output, _) = try MPITests.mpirun([
            "-n", "2", "-x", "VAE_DIST_FAULT=nan@1:3", "--", MPITests.binary("vae-dist-faults"),
            "--config", FaultToleranceTests.config, "--run-dir", dir, "--max-steps", "10",
        ])
        #expect(status == 1, "\(output)")
        #expect(
            output.components(separatedBy: "step 3: the reconstruction loss is not finite").count == 2,
            "once, by rank 0: \(output)")
    }

    @Test func aFailingWriteLeavesThePreviousCheckpointAndLogsNoSave() throws {
        let dir = Fixtures.temporaryFolder("fsize", created: false)
        let base = ["--config", FaultToleranceTests.config, "--run-dir", dir]
        #expect(try FaultToleranceTests.run(base + ["--max-steps", "2"]).0 == 0)
        let first = try #require(try CheckpointStore(directory: dir, keep: 3).latest())
        let before = try Fixtures.stateHash(first)
        // A 100 KB file-size limit: the ≈ 600 KB checkpoint cannot be written (EFBIG, as on a full disk).
        let (status, out, err) = try FaultToleranceTests.run(
            base + ["--max-steps", "4", "--resume", "latest"], shellPrefix: "ulimit -f 100")
        #expect(status == 1, "\(err)")
        #expect(err.contains("File too large") && err.contains("free space"), "\(err)")
        #expect(!out.contains("(step 4)"), "a failed save was logged as saved: \(out)")
        #expect(try CheckpointStore(directory: dir, keep: 3).latest() == first)
        #expect(try Fixtures.stateHash(first) == before)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(!names.contains { $0.hasPrefix(AtomicFile.temporaryPrefix) }, "temp file left: \(names)")
        // Without the limit the run resumes and saves.
        #expect(try FaultToleranceTests.run(base + ["--max-steps", "4", "--resume", "latest"]).0 == 0)
    }

    /// The waiting rank sits in the step's first collective: the all-reduce, or the node barrier of node-shared memory.
    @Test(arguments: [("allreduce", "MPI_Allreduce"), ("node-shared", "MPI_Barrier (node)")])
    func theWatchdogEndsAJobWhoseRankStalls(exchange: String, collective: String) throws {
        let dir = Fixtures.temporaryFolder("stall", created: false)
        let start = Date()
        let (status, output, _) = try MPITests.mpirun([
            "-n", "2", "-x", "VAE_DIST_FAULT=stall@1:3:120", "--", MPITests.binary("vae-dist-faults"),
            "--config", FaultToleranceTests.config, "--run-dir", dir, "--max-steps", "10",
            "--collective-timeout", "3", "--gradient-exchange", exchange,
        ])
        let seconds = Date().timeIntervalSince(start)
        #expect(status != 0, "\(output)")
        #expect(output.contains("watchdog: \(collective) has waited") && output.contains("at step 3"), "\(output)")
        #expect(seconds < 60, "took \(seconds) s")
        if let waited = output.firstMatch(of: #/has waited ([0-9.]+) s/#) {
            print("watchdog: fired after \(waited.1) s (limit 3 s); job ended \(String(format: "%.1f", seconds)) s after launch")
        }
    }

    @Test func divergedReplicasAreNamed() throws {
        let dir = Fixtures.temporaryFolder("diverge", created: false)
        let (status, output, _) = try MPITests.mpirun([
            "-n", "2", "-x", "VAE_DIST_FAULT=perturb@1:2", "--", MPITests.binary("vae-dist-faults"),
            "--config", FaultToleranceTests.config, "--run-dir", dir, "--max-steps", "10",
            "--divergence-check-every", "1", "--gradient-exchange", "allreduce",
        ])
        #expect(status == 1, "\(output)")
        #expect(output.contains("replicas diverged at step 2: the parameters of rank 1 differ"), "\(output)")
    }

    /// Node-shared memory keeps one replica per node: a perturbed node (2 simulated nodes of 2 ranks) is named
    /// by both of its ranks.
    @Test func divergedNodeSharedReplicasAreNamed() throws {
        let dir = Fixtures.temporaryFolder("diverge-node", created: false)
        let (status, output, _) = try MPITests.mpirun(
            [
                "-n", "4", "-x", "VAE_DIST_FAULT=perturb@3:2", "--", MPITests.binary("vae-dist-faults"),
                "--config", FaultToleranceTests.config, "--run-dir", dir, "--max-steps", "10",
                "--divergence-check-every", "1", "--gradient-exchange", "node-shared",
            ],
            environment: ["VAE_DIST_RANKS_PER_NODE": "2"])
        #expect(status == 1, "\(output)")
        #expect(output.contains("replicas diverged at step 2: the parameters of ranks 2, 3 differ"), "\(output)")
    }

    @Test func aDeadRankEndsTheJobQuicklyAndTheCheckpointResumes() throws {
        let dir = Fixtures.temporaryFolder("dead", created: false)
        let cli = MPITests.binary("vae-dist")
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OMPI_") && !$0.key.hasPrefix("PMIX_") }
        environment["VAE_DIST_MPI_TIMEOUT"] = "\(MPITests.timeout)"
        let launched = try TestProcess.launch(
            "Launch/mpirun.sh",
            [
                "-n", "4", "--", cli, "--config", FaultToleranceTests.config, "--run-dir", dir,
                "--max-steps", "100000", "--checkpoint-every", "5",
            ], environment: environment, discarded: true)
        let process = launched.0
        let store = CheckpointStore(directory: dir, keep: 3)
        for _ in 0..<1200 where store.checkpoints().isEmpty { usleep(50_000) }
        #expect(!store.checkpoints().isEmpty, "no checkpoint appeared")
        // Kill one rank (the one whose parent is not this test) with SIGKILL.
        let (_, found, _) = try TestProcess.run("/usr/bin/pgrep", ["-f", "^\(cli) --config .* --run-dir \(dir)"])
        let ranks = found.split(separator: "\n").compactMap { Int32($0) }
        #expect(ranks.count == 4, "ranks found: \(ranks)")
        let killed = Date()
        if let victim = ranks.last { kill(victim, SIGKILL) }
        process.waitUntilExit()
        let seconds = Date().timeIntervalSince(killed)
        #expect(process.terminationStatus != 0)
        #expect(seconds < 10, "the job took \(seconds) s to end after a rank died")
        print(String(format: "dead rank: mpirun ended %.2f s after the SIGKILL", seconds))
        // Every rank process is gone (or a zombie awaiting its reaper) within 10 s of the kill.
        func alive(_ pid: Int32) -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
            return !(stat.split(separator: ")").last?.trimmingCharacters(in: .whitespaces).hasPrefix("Z") ?? true)
        }
        while ranks.contains(where: alive) && Date().timeIntervalSince(killed) < 10 { usleep(100_000) }
        for rank in ranks { #expect(!alive(rank), "rank process \(rank) is left over") }
        // The newest checkpoint is whole and the run resumes from it.
        let latest = try #require(try store.latest())
        let step = Int(latest.split(separator: "-").last!.prefix(9))!
        let (status, _, err) = try FaultToleranceTests.run([
            "--config", FaultToleranceTests.config, "--run-dir", dir,
            "--max-steps", "\(step + 2)", "--resume", "latest",
        ])
        #expect(status == 0, "\(err)")
    }
}
