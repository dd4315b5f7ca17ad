import Foundation
import Testing
@testable import VAETraining
import VAEDistributed

/// Multi-rank tests: each runs `mpirun --timeout` (through Launch/mpirun.sh) over the `vae-dist-mpi-check`
/// harness or the `vae-dist` binary, both built next to this test bundle. A hang ends at the timeout and fails.
@Suite(.serialized) struct MPITests {
    static let timeout = 150

    static func binary(_ name: String) -> String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// Runs `Launch/mpirun.sh ARGS`; returns (status, stdout + stderr, seconds). `started` sees the launcher once
    /// it runs (to signal it); `closedStdin` starts it with standard input closed (as cron does).
    static func mpirun(
        _ arguments: [String], environment extra: [String: String] = [:], closedStdin: Bool = false,
        started: ((Process) -> Void)? = nil
    ) throws -> (Int32, String, Double) {
        let process = Process()
        if started == nil && !closedStdin {
            process.executableURL = URL(fileURLWithPath: "Launch/mpirun.sh")
            process.arguments = arguments
        } else {
            // To be signalled: the test runner's threads block SIGTERM/SIGINT and a spawned shell inherits the
            // mask (its traps would never run), so unblock them first, then exec the launcher in place.
            let interpreter = CLITests.pythonInterpreter
            process.executableURL = URL(fileURLWithPath: interpreter[0])
            process.arguments =
                Array(interpreter.dropFirst()) + [
                    "-c",
                    "import os, signal, sys; signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]); "
                        + (closedStdin ? "os.close(0); " : "") + "os.execv(sys.argv[1], sys.argv[1:])",
                    "Launch/mpirun.sh",
                ] + arguments
        }
        // A parent that called MPI_Init leaves OMPI_*/PMIX_* variables that hang a child mpirun: drop them.
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OMPI_") && !$0.key.hasPrefix("PMIX_") }
        environment["VAE_DIST_MPI_TIMEOUT"] = "\(timeout)"
        environment.merge(extra) { $1 }
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let start = Date()
        try process.run()
        if let started { DispatchQueue.global().async { started(process) } }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self), Date().timeIntervalSince(start))
    }

    /// Runs one `vae-dist-mpi-check` case; `ranksPerNode` splits the ranks into that many per simulated node.
    static func check(
        _ name: String, ranks: Int = 4, control: String? = nil, exchange: String? = nil,
        ranksPerNode: Int? = nil
    ) throws -> (Int32, String) {
        let (status, output, _) = try mpirun(
            ["-n", "\(ranks)", "--", binary("vae-dist-mpi-check"), name]
                + (control.map { ["--control", $0] } ?? []) + (exchange.map { ["--exchange", $0] } ?? []),
            environment: ranksPerNode.map { ["VAE_DIST_RANKS_PER_NODE": "\($0)"] } ?? [:])
        return (status, output)
    }

    @Test(arguments: [2, 3, 4])
    func collectivesAreExactAndIdenticalOnEveryRank(ranks: Int) throws {
        let (status, output) = try MPITests.check("collectives", ranks: ranks)
        #expect(status == 0 && output.contains("PASS collectives"), "\(output)")
    }

    @Test func gradientsParametersAndAdamStateAreBitwiseEqualAcrossRanks() throws {
        let (status, output) = try MPITests.check("gradient-equality")
        #expect(status == 0 && output.contains("PASS gradient-equality"), "\(output)")
    }

    @Test func negativeControlRanksThatSkipTheAllReduceDiffer() throws {
        let (status, output) = try MPITests.check("gradient-equality", control: "local-only")
        #expect(status == 3 && output.contains("gradients differ between ranks"), "\(output)")
    }

    @Test func fourRanksTakeTheSameStepsAsOneProcess() throws {
        let (status, output) = try MPITests.check("n-equals-1")
        #expect(status == 0 && output.contains("PASS n-equals-1"), "\(output)")
    }

    @Test func negativeControlAveragingWhereSummingIsDueIsCaught() throws {
        let (status, output) = try MPITests.check("n-equals-1", control: "average")
        #expect(status == 3 && output.contains("gradients differ from one process"), "\(output)")
    }

    /// Every strategy at -n 2: no heap allocation in a step outside the MPI calls, none at all for node-shared;
    /// the MPI library's own allocations are counted and named (printed).
    @Test func noStrategyAllocatesInAStepUnderMPI() throws {
        let (status, output) = try MPITests.check("allocations", ranks: 2)
        print(output)
        #expect(status == 0 && output.contains("PASS allocations") && output.contains("node-shared: 0.0 per step"), "\(output)")
    }

    @Test func shardedOptimizerMatchesThePlainPath() throws {
        let (status, output) = try MPITests.check("zero1")
        #expect(status == 0 && output.contains("PASS zero1"), "\(output)")
    }

    @Test func overlappedAllReduceMatchesThePlainPath() throws {
        let (status, output) = try MPITests.check("overlap")
        #expect(status == 0 && output.contains("PASS overlap"), "\(output)")
    }

    /// One node of 4, and 2 simulated nodes of 2 (shared memory inside each, an all-reduce per shard across).
    @Test(arguments: [nil, 2] as [Int?])
    func nodeSharedExchangeMatchesTheAllReducePath(ranksPerNode: Int?) throws {
        let (status, output) = try MPITests.check("node-shared", ranksPerNode: ranksPerNode)
        #expect(status == 0 && output.contains("PASS node-shared"), "\(output)")
    }

    /// Hybrid, 2 ranks × 2 threads: no heap allocation in a step outside the MPI calls thread 0 makes, any strategy.
    @Test func hybridStepsAllocateOnlyInsideMPI() throws {
        let (status, output) = try MPITests.check("allocations-hybrid", ranks: 2)
        #expect(status == 0 && output.contains("PASS allocations-hybrid"), "\(output)")
        #expect(output.contains("hybrid allocations per step"), "\(output)")
    }

    /// Two simulated nodes of 2: the hop between them overlapped with backward gives the bits of the hop after it.
    @Test func crossNodeOverlapGivesTheSameBitsAsTheHopAfterBackward() throws {
        let (status, output) = try MPITests.check("cross-node-overlap", ranksPerNode: 2)
        #expect(status == 0 && output.contains("PASS cross-node-overlap"), "\(output)")
        #expect(output.contains("bf16 across 2 node(s): the same bits"), "\(output)")
    }

    @Test(arguments: [nil, 2] as [Int?])
    func nodeSharedFourRanksTakeTheSameStepsAsOneProcess(ranksPerNode: Int?) throws {
        let (status, output) = try MPITests.check("n-equals-1", exchange: "node-shared", ranksPerNode: ranksPerNode)
        #expect(status == 0 && output.contains("PASS n-equals-1"), "\(output)")
    }

    @Test func negativeControlNodeSharedRanksThatSumOnlyTheirOwnGradientAreCaught() throws {
        let (status, output) = try MPITests.check("n-equals-1", control: "no-peer-sum", exchange: "node-shared")
        #expect(status == 3 && output.contains("gradients differ from one process"), "\(output)")
    }

    @Test func nodeSharedParametersAndMomentsAreEqualAcrossNodes() throws {
        let (status, output) = try MPITests.check("gradient-equality", exchange: "node-shared", ranksPerNode: 2)
        #expect(status == 0 && output.contains("PASS gradient-equality"), "\(output)")
    }

    @Test func nodeSharedResumeAcrossTwoNodesIsBitExact() throws {
        let (status, output) = try MPITests.check("resume", exchange: "node-shared", ranksPerNode: 2)
        #expect(status == 0 && output.contains("PASS resume"), "\(output)")
    }

    /// Nodes of 2 and 1 ranks: `auto` falls back to the all-reduce (and says so); node-shared is an error before training.
    @Test func unevenNodesFallBackToTheAllReduceOrStopWithAMessage() throws {
        let common = ["--", MPITests.binary("vae-dist-faults"), "--data", "synthetic", "--max-steps", "2", "--batch-size", "33"]
        let uneven = ["VAE_DIST_RANKS_PER_NODE": "2"]
        let (status, output, _) = try MPITests.mpirun(
            ["-n", "3"] + common + ["--run-dir", NSTemporaryDirectory() + "vae-dist-uneven-\(UUID().uuidString.prefix(8))"],
            environment: uneven)
        #expect(status == 0 && output.contains("3 rank(s) (gradient exchange: all-reduce)"), "\(output)")
        let (failed, message, _) = try MPITests.mpirun(
            ["-n", "3"] + common + [
                "--gradient-exchange", "node-shared",
                "--run-dir", NSTemporaryDirectory() + "vae-dist-uneven-\(UUID().uuidString.prefix(8))",
            ],
            environment: uneven)
        #expect(
            failed == 1 && message.contains("gradient_exchange node-shared: the nodes have different numbers of ranks"),
            "\(message)")
    }

    @Test func startupBroadcastMakesDifferentlySeededRanksEqual() throws {
        let (status, output) = try MPITests.check("broadcast")
        #expect(status == 0 && output.contains("PASS broadcast"), "\(output)")
    }

    @Test func resumeUnderFourRanksIsBitExact() throws {
        let (status, output) = try MPITests.check("resume")
        #expect(status == 0 && output.contains("PASS resume"), "\(output)")
    }

    @Test func aRankWithAnotherConfigurationStopsTheJobWithAMessage() throws {
        let cli = MPITests.binary("vae-dist")
        let common = [
            "--data", "synthetic", "--max-steps", "3", "--batch-size", "32",
            "--run-dir", NSTemporaryDirectory() + "vae-dist-mismatch-\(UUID().uuidString.prefix(8))",
        ]
        let (status, output, seconds) = try MPITests.mpirun(
            ["-n", "3", "--", cli] + common + [":", "-n", "1", cli] + common + ["--learning-rate", "0.002"])
        #expect(status == 1, "\(output)")
        #expect(output.contains("error: the configuration hash differs across ranks") && output.contains("rank 3 ("), "\(output)")
        #expect(seconds < Double(MPITests.timeout - 10), "took \(seconds) s: it hung until the timeout")
    }

    @Test func aRankThatCannotReadItsDataStopsEveryRank() throws {
        let cli = MPITests.binary("vae-dist")
        let common = [
            "--max-steps", "3", "--batch-size", "32", "--run-dir",
            NSTemporaryDirectory() + "vae-dist-baddata-\(UUID().uuidString.prefix(8))",
        ]
        let (status, output, seconds) = try MPITests.mpirun(
            ["-n", "1", "--", cli, "--data", "/nonexistent/mnist"] + common
                + [":", "-n", "1", cli, "--data", "synthetic"] + common)
        #expect(status == 1, "\(output)")
        #expect(output.contains("error: rank 0: /nonexistent/mnist: file not found"), "\(output)")
        #expect(seconds < Double(MPITests.timeout - 10), "took \(seconds) s: it hung until the timeout")
    }

    @Test func indivisibleGlobalBatchIsAnErrorBeforeTraining() throws {
        let (status, output, _) = try MPITests.mpirun([
            "-n", "3", "--", MPITests.binary("vae-dist"), "--data", "synthetic",
            "--batch-size", "64", "--run-dir", NSTemporaryDirectory() + "vae-dist-indiv",
        ])
        #expect(status == 1 && output.contains("does not divide among 3 ranks"), "\(output)")
        #expect(output.components(separatedBy: "does not divide").count == 2, "printed once, by rank 0: \(output)")
    }

    /// `eval` at the rank count of the run (node-shared there: only each node's leader writes the loaded state)
    /// prints the trainer's epoch-end test loss.
    @Test func evalUnderMpirunReproducesTheEpochEndTestLoss() throws {
        let cli = MPITests.binary("vae-dist")
        let folder = NSTemporaryDirectory() + "vae-dist-eval-mpi-\(UUID().uuidString.prefix(8))"
        let (status, output, _) = try MPITests.mpirun([
            "-n", "2", "--", cli, "--config", FaultToleranceTests.config,
            "--epochs", "1", "--run-dir", folder,
        ])
        #expect(status == 0 && output.contains("gradient exchange: node-shared"), "\(output)")
        let epoch = try String(contentsOfFile: folder + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.first { $0["type"] as? String == "epoch" }
        let trained = try #require(epoch?["test_loss"] as? Double)
        let checkpoint =
            folder + "/"
            + (try String(contentsOfFile: folder + "/latest", encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)
        let (evalStatus, json, _) = try MPITests.mpirun([
            "-n", "2", "--", cli, "eval", "--checkpoint", checkpoint,
            "--data", "synthetic", "--json",
        ])
        let line = json.split(separator: "\n").first { $0.hasPrefix("{") } ?? ""
        let evaluated = (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["test_loss"] as? Double
        #expect(evalStatus == 0 && evaluated.map { abs($0 - trained) <= 1e-6 } == true, "\(trained) vs \(json)")
    }

    @Test func theCLITrainsUnderMpirunLikeOneProcess() throws {
        // The same 4 steps single-process and at -n 2: the logged losses agree to the printed digits' tolerance.
        let cli = MPITests.binary("vae-dist")
        let folder = NSTemporaryDirectory() + "vae-dist-cli-mpi-\(UUID().uuidString.prefix(8))"
        let args = ["--data", "synthetic", "--max-steps", "4", "--batch-size", "32", "--log-every", "1", "--blas-threads", "1"]
        let (status, output, _) = try MPITests.mpirun(["-n", "2", "--", cli] + args + ["--run-dir", folder + "-2"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("2 rank(s)"))
        let solo = Process()
        solo.executableURL = URL(fileURLWithPath: cli)
        solo.arguments = args + ["--run-dir", folder + "-1"]
        solo.standardOutput = FileHandle.nullDevice
        try solo.run()
        solo.waitUntilExit()
        func losses(_ dir: String) throws -> [Double] {
            try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap {
                (try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["loss"] as? Double
            }
        }
        let a = try losses(folder + "-2"), b = try losses(folder + "-1")
        #expect(a.count == 4 && b.count == 4)
        for (x, y) in zip(a, b) { #expect(abs(x - y) <= 1e-4 * abs(y), "\(a) vs \(b)") }
    }
}

/// `reduction: exact` makes training a pure function of (config, seed, data): the same bits at 1, 2 and 4 ranks,
/// and across a resume at another rank count. Runs the `vae-dist` CLI (one BLAS thread per rank everywhere).
@Suite(.serialized) struct ExactReductionTests {
    static let config: String = {
        let path = NSTemporaryDirectory() + "vae-dist-exact-\(UUID().uuidString.prefix(8)).json"
        try!
            #"{"model": {"encoder_hidden": [32], "latent_size": 4, "decoder_hidden": [32]}, "training": {"batch_size": 32, "micro_batches": 4}, "run": {"log_every": 1}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }()

    /// Trains to `steps` at `ranks` (nil: single process without mpirun) into `folder`; returns the final checkpoint's
    /// data SHA-256 (parameters and Adam moments) and the logged losses.
    static func train(
        ranks: Int?, reduction: String, steps: Int, folder: String, resume: Bool = false
    ) throws -> (String, [String]) {
        let args =
            [
                "--config", config, "--data", "synthetic", "--max-steps", "\(steps)", "--blas-threads", "1",
                "--reduction", reduction, "--run-dir", folder,
            ] + (resume ? ["--resume", "latest"] : [])
        let cli = MPITests.binary("vae-dist")
        if let ranks {
            let (status, output, _) = try MPITests.mpirun(["-n", "\(ranks)", "--", cli] + args)
            #expect(status == 0, "\(output)")
        } else {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: cli)
            process.arguments = args
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
        }
        return (
            try Fixtures.stateHash(folder + "/" + CheckpointStore.fileName(step: steps)),
            Fixtures.deterministicMetrics(in: folder)
        )
    }

    static func folder(_ name: String) -> String {
        NSTemporaryDirectory() + "vae-dist-exact-\(name)-\(UUID().uuidString.prefix(8))"
    }

    @Test func sameBitsAtOneTwoAndFourRanksAndAcrossAnElasticResume() throws {
        let single = try ExactReductionTests.train(
            ranks: nil, reduction: "exact", steps: 6, folder: ExactReductionTests.folder("1"))
        #expect(single.1.count == 6 && !single.0.isEmpty)
        for ranks in [1, 2, 4] {
            let run = try ExactReductionTests.train(
                ranks: ranks, reduction: "exact", steps: 6, folder: ExactReductionTests.folder("\(ranks)"))
            #expect(run.0 == single.0, "-n \(ranks): parameters and Adam state differ from the single process")
            #expect(run.1 == single.1, "-n \(ranks): logged losses differ")
        }
        // Elastic: 2 steps at -n 4, resume at -n 2 to step 4, resume single-process to step 6.
        let elastic = ExactReductionTests.folder("elastic")
        _ = try ExactReductionTests.train(ranks: 4, reduction: "exact", steps: 2, folder: elastic)
        _ = try ExactReductionTests.train(ranks: 2, reduction: "exact", steps: 4, folder: elastic, resume: true)
        let resumed = try ExactReductionTests.train(ranks: nil, reduction: "exact", steps: 6, folder: elastic, resume: true)
        #expect(resumed.0 == single.0, "4 → 2 → 1 ranks: state differs from the uninterrupted run")
        #expect(resumed.1 == single.1, "4 → 2 → 1 ranks: logged losses differ")
    }

    @Test func negativeControlFastReductionDiffersAcrossRankCounts() throws {
        let one = try ExactReductionTests.train(
            ranks: nil, reduction: "fast", steps: 6, folder: ExactReductionTests.folder("fast1"))
        let four = try ExactReductionTests.train(
            ranks: 4, reduction: "fast", steps: 6, folder: ExactReductionTests.folder("fast4"))
        #expect(one.0 != four.0, "the float all-reduce gave the same bits at 1 and 4 ranks; the exact test would not be needed")
    }
}

/// A data set split into 4 NPY shards trains under `mpirun -n 4` as the one file does in one process: bit for bit
/// with the exact exchange, to float tolerance with the all-reduce (Launch/make-example-data.py's tabular data,
/// Gaussian likelihood, standardized).
@Suite(.serialized) struct ShardedDataTests {
    @Test func fourShardsAtFourRanksTrainLikeOneFileInOneProcess() throws {
        let root = NSTemporaryDirectory() + "vae-dist-shards-\(UUID().uuidString.prefix(8))"
        for kind in ["tabular", "tabular-shards"] {
            let (code, output) = try CLITests.python(["Launch/make-example-data.py", kind, root + "/" + kind])
            #expect(code == 0, "\(output)")
        }
        let cli = MPITests.binary("vae-dist")
        let common = [
            "--likelihood", "gaussian", "--standardize", "--batch-size", "128", "--max-steps", "6", "--blas-threads", "1",
            "--log-every", "1",
        ]
        func run(ranks: Int?, data: String, exchange: String, folder: String) throws -> LoadedModel {
            let args = common + ["--data", root + "/" + data, "--gradient-exchange", exchange, "--run-dir", root + "/" + folder]
            if let ranks {
                let (status, output, _) = try MPITests.mpirun(["-n", "\(ranks)", "--", cli] + args)
                #expect(status == 0 && output.contains("4000 train / 800 test samples"), "\(output)")
            } else {
                let (status, out, err) = try CLITests.run(args)
                #expect(status == 0, "\(out)\(err)")
            }
            return try LoadedModel.load(
                checkpoint: root + "/" + folder + "/" + CheckpointStore.fileName(step: 6),
                communicator: SingleProcessCommunicator())
        }
        func values(_ model: LoadedModel) -> [Float] {
            Array(UnsafeBufferPointer(start: model.model.parameters.pointer, count: model.model.layout.count))
        }
        let oneFile = try run(ranks: nil, data: "tabular", exchange: "exact", folder: "exact-1")
        let shards = try run(ranks: 4, data: "tabular-shards", exchange: "exact", folder: "exact-4")
        #expect(oneFile.metadata.standardization != nil && shards.metadata.standardization == oneFile.metadata.standardization)
        #expect(values(shards) == values(oneFile), "exact: 4 shards at -n 4 differ from one file in one process")
        #expect(
            try Fixtures.stateHash(root + "/exact-4/" + CheckpointStore.fileName(step: 6))
                == (try Fixtures.stateHash(root + "/exact-1/" + CheckpointStore.fileName(step: 6))))

        let fastOne = values(try run(ranks: nil, data: "tabular", exchange: "allreduce", folder: "fast-1"))
        let fastShards = values(try run(ranks: 4, data: "tabular-shards", exchange: "allreduce", folder: "fast-4"))
        let scale = fastOne.map(abs).max()!
        let worst = zip(fastOne, fastShards).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-4 * scale, "allreduce: largest parameter difference \(worst) (scale \(scale))")
    }
}
