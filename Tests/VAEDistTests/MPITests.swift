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
        started: ((Int32) -> Void)? = nil
    ) throws -> (Int32, String, Double) {
        var executable = "Launch/mpirun.sh", launcherArguments = arguments
        if started != nil || closedStdin {
            // To be signalled: the test runner's threads block SIGTERM/SIGINT and a spawned shell inherits the
            // mask (its traps would never run), so unblock them first, then exec the launcher in place.
            let interpreter = CLITests.pythonInterpreter
            executable = interpreter[0]
            launcherArguments =
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
        let start = Date()
        let (status, output, _) = try TestProcess.run(
            executable, launcherArguments, environment: environment, combined: true,
            started: started.map { started in { pid in DispatchQueue.global().async { started(pid) } } })
        return (status, output, Date().timeIntervalSince(start))
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
            ["-n", "3"] + common + ["--run-dir", Fixtures.temporaryFolder("uneven", created: false)],
            environment: uneven)
        #expect(status == 0 && output.contains("3 rank(s) (gradient exchange: all-reduce)"), "\(output)")
        let (failed, message, _) = try MPITests.mpirun(
            ["-n", "3"] + common + [
                "--gradient-exchange", "node-shared",
                "--run-dir", Fixtures.temporaryFolder("uneven", created: false),
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
            "--run-dir", Fixtures.temporaryFolder("mismatch", created: false),
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
            Fixtures.temporaryFolder("baddata", created: false),
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
        let folder = Fixtures.temporaryFolder("eval-mpi", created: false)
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
        let folder = Fixtures.temporaryFolder("cli-mpi", created: false)
        let args = ["--data", "synthetic", "--max-steps", "4", "--batch-size", "32", "--log-every", "1", "--blas-threads", "1"]
        let (status, output, _) = try MPITests.mpirun(["-n", "2", "--", cli] + args + ["--run-dir", folder + "-2"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("2 rank(s)"))
        let (soloStatus, _, soloErr) = try TestProcess.run(cli, args + ["--run-dir", folder + "-1"])
        #expect(soloStatus == 0, "\(soloErr)")
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
