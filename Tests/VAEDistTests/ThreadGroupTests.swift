import CAllocationCounter
import Foundation
import Testing
import VAEDistributed
@testable import VAETraining
import VAEModel

/// Threads as the ranks of one node (``ThreadGroup``): exact collectives, training steps that allocate nothing on
/// every thread, and `vae-dist --threads 2` taking the same bits as `mpirun -n 2` and resuming exactly.
@Suite struct ThreadGroupTests {
    @Test func collectivesGiveEveryThreadTheSameExactResult() {
        let group = ThreadGroup(size: 3)
        let results = group.run { communicator -> [Double] in
            let r = Double(communicator.rank)
            var sum: [Float] = [Float(r) + 0.5, 1e6 * Float(r + 1), -Float(r)]
            sum.withUnsafeMutableBufferPointer { communicator.allReduce($0, .sum) }
            var extremes: [Double] = [r, r]
            extremes.withUnsafeMutableBufferPointer {
                communicator.allReduce(UnsafeMutableBufferPointer(rebasing: $0[0..<1]), .min)
            }
            extremes.withUnsafeMutableBufferPointer {
                communicator.allReduce(UnsafeMutableBufferPointer(rebasing: $0[1..<2]), .max)
            }
            var count: [Int64] = [Int64(communicator.rank) + 1]
            count.withUnsafeMutableBufferPointer { communicator.allReduce($0, .sum) }
            var root: [UInt8] = communicator.rank == 2 ? [7, 8, 9] : [0, 0, 0]
            root.withUnsafeMutableBytes { communicator.broadcast($0, root: 2) }
            return sum.map(Double.init) + extremes + [Double(count[0])] + root.map(Double.init)
        }
        #expect(results[0] == [4.5, 6e6, -3, 0, 2, 6, 7, 8, 9], "\(results[0])")
        #expect(results.allSatisfy { $0 == results[0] })
    }

    @Test func reduceScatterAndAllGatherMatchTheirDefinitions() {
        let shards = ShardLayout(count: 7, ranks: 3)
        let results = ThreadGroup(size: 3).run { communicator -> [Float] in
            let source = (0..<7).map { Float(communicator.rank * 10 + $0) }
            let mine = shards.range(of: communicator.rank)
            var shard = [Float](repeating: -1, count: mine.count)
            source.withUnsafeBufferPointer { s in
                shard.withUnsafeMutableBufferPointer { communicator.reduceScatterSum(s, into: $0, shards: shards) }
            }
            var gathered = [Float](repeating: -1, count: 7)
            for i in mine { gathered[i] = Float(communicator.rank) }
            gathered.withUnsafeMutableBufferPointer { communicator.allGather($0, shards: shards) }
            return shard + [.nan] + gathered
        }
        for rank in 0..<3 {
            let mine = shards.range(of: rank)
            let expectedShard = mine.map { Float(30 + 3 * $0) }  // Σ over r of 10r + i
            let expectedGather = (0..<7).map { i in Float((0..<3).first { shards.range(of: $0).contains(i) }!) }
            #expect(Array(results[rank].prefix(mine.count)) == expectedShard)
            #expect(Array(results[rank].suffix(7)) == expectedGather)
        }
    }

    /// Every gradient exchange on two threads: no heap allocation in a step, on either thread.
    @Test(arguments: ExchangeStrategy.allCases.filter { $0 != .auto })
    func stepsOnTwoThreadsAllocateNothing(exchange: ExchangeStrategy) throws {
        let folder = Fixtures.temporaryFolder()
        let counts = ThreadGroup(size: 2).run { communicator -> UInt64 in
            var config = TrainingConfiguration()
            config.gradientExchange = exchange
            config.dataSource = "synthetic"
            config.runDirectory = folder
            config.blasThreads = 1
            guard
                let trainer = try? Trainer(
                    configuration: config, data: Fixtures.smallData, communicator: communicator, logger: Fixtures.quietLogger)
            else { return .max }
            let order = epochPermutation(count: Fixtures.smallData.train.count, seed: 1, epoch: 0)
            return order.withUnsafeBufferPointer { all -> UInt64 in
                _ = trainer.step(indices: UnsafeBufferPointer(rebasing: all[0..<128]), epoch: 0)  // warm-up
                let before = vae_thread_allocation_count()
                for s in 1..<6 {
                    _ = trainer.step(indices: UnsafeBufferPointer(rebasing: all[(s % 2 * 128)..<(s % 2 * 128 + 128)]), epoch: s)
                }
                return vae_thread_allocation_count() - before
            }
        }
        #expect(counts == [0, 0], "heap allocations in 5 steps per thread: \(counts)")
    }

    @Test func twoThreadsTakeMpirunTwosBitsAndResumeExactly() throws {
        let threads = Fixtures.temporaryFolder("threads"), ranks = Fixtures.temporaryFolder("ranks")
        let resumed = Fixtures.temporaryFolder("resumed")
        let common = ["--data", "synthetic", "--batch-size", "64", "--max-steps", "6", "--log-every", "2"]
        let (status, out, err) = try CLITests.run(["train", "--threads", "2", "--run-dir", threads] + common)
        #expect(status == 0, "\(err)")
        #expect(out.contains("2 thread(s) (gradient exchange: node-shared"), "\(out)")
        let (ranked, rankedOut, _) = try MPITests.mpirun(
            ["-n", "2", "--", CLITests.binary, "train", "--run-dir", ranks] + common)
        #expect(ranked == 0, "\(rankedOut)")
        let name = "/checkpoint-step-000000006.safetensors"
        #expect(try Fixtures.stateHash(threads + name) == Fixtures.stateHash(ranks + name))
        // Stop at step 3, resume to 6 without --threads: the checkpoint's two threads again, the same bits.
        let (first, _, firstErr) = try CLITests.run(
            ["train", "--threads", "2", "--run-dir", resumed] + common + ["--max-steps", "3"])
        #expect(first == 0, "\(firstErr)")
        let (second, secondOut, secondErr) = try CLITests.run([
            "train", "--run-dir", resumed, "--resume", "latest", "--max-steps", "6",
        ])
        #expect(second == 0, "\(secondErr)")
        // No warning of another rank count (a machine's own warnings, e.g. of its BLAS kernels, are not this test's).
        #expect(secondOut.contains("2 thread(s)") && !secondErr.contains("round differently"), "\(secondOut)\(secondErr)")
        #expect(try Fixtures.stateHash(resumed + name) == Fixtures.stateHash(threads + name))
        #expect(Fixtures.deterministicMetrics(in: resumed) == Fixtures.deterministicMetrics(in: threads))
    }

    @Test func exactOnTwoThreadsIsOneProcesssBits() throws {
        let one = Fixtures.temporaryFolder("one"), two = Fixtures.temporaryFolder("two")
        let common = ["--data", "synthetic", "--batch-size", "64", "--max-steps", "4", "--gradient-exchange", "exact", "-q"]
        let (a, _, aErr) = try CLITests.run(["train", "--blas-threads", "1", "--run-dir", one] + common)
        let (b, _, bErr) = try CLITests.run(["train", "--threads", "2", "--run-dir", two] + common)
        #expect(a == 0 && b == 0, "\(aErr)\(bErr)")
        let name = "/checkpoint-step-000000004.safetensors"
        #expect(try Fixtures.stateHash(one + name) == Fixtures.stateHash(two + name))
    }

    /// The default thread count: every core the batch divides into 32 rows or more; 1 under mpirun or with BLAS
    /// threads; a set count wins.
    @Test func theDefaultThreadCountUsesTheCoresTheBatchDivides() {
        var settings = TrainingConfiguration()
        #expect(settings.resolvedThreadCount(cores: 2, launchedByMPI: false) == 2)
        #expect(settings.resolvedThreadCount(cores: 6, launchedByMPI: false) == 4)  // 128 = 4 × 32, not 6 × …
        #expect(settings.resolvedThreadCount(cores: 6, launchedByMPI: false, batchGrowsWithRanks: true) == 6)
        #expect(settings.resolvedThreadCount(cores: 2, launchedByMPI: true) == 1)
        #expect(settings.resolvedThreadCount(cores: 16, launchedByMPI: false) == 4)  // at least 32 rows a thread
        #expect(settings.resolvedThreadCount(cores: 16, launchedByMPI: false, batchGrowsWithRanks: true) == 16)
        settings.batchSize = 500
        #expect(settings.resolvedThreadCount(cores: 8, launchedByMPI: false) == 5)
        settings.batchSize = 192
        settings.gradientExchange = .exact  // 8 micro-batches: the count must divide them too (6 would not)
        #expect(settings.resolvedThreadCount(cores: 6, launchedByMPI: false) == 4)
        settings.blasThreads = 2
        #expect(settings.resolvedThreadCount(cores: 6, launchedByMPI: false) == 1)
        settings.threads = 3
        #expect(settings.resolvedThreadCount(cores: 6, launchedByMPI: false) == 3)
    }

    /// A run without --threads records the count it chose; a resume at another count says what it costs.
    @Test func theChosenCountIsRecordedAndAnotherCountOnResumeIsNamed() throws {
        let folder = Fixtures.temporaryFolder("default-threads")
        let common = ["--data", "synthetic", "--batch-size", "64", "-q"]
        let (status, _, err) = try CLITests.run(["train", "--run-dir", folder, "--max-steps", "2"] + common)
        #expect(status == 0, "\(err)")
        var requested = TrainingConfiguration()
        requested.batchSize = 64
        let expected = requested.resolvedThreadCount(cores: ProcessInfo.processInfo.activeProcessorCount, launchedByMPI: false)
        let config = try TrainingConfiguration.load(path: folder + "/config.json")
        #expect(config.threads == expected)
        let other = config.threads == 1 ? 2 : 1
        let (resumed, _, resumedErr) = try CLITests.run(
            ["train", "--run-dir", folder, "--resume", "latest", "--max-steps", "4", "--threads", "\(other)"] + common)
        #expect(resumed == 0, "\(resumedErr)")
        #expect(
            resumedErr.contains("written by a run on \(config.threads) rank(s) or threads, this one has \(other)"),
            "\(resumedErr)")
        #expect(resumedErr.contains("resume with --threads \(config.threads)"), "\(resumedErr)")
    }

    /// Hybrid: `mpirun -n 2 … --threads 2` is 4 ranks, each process a node of 2 — the bits of `mpirun -n 4` with
    /// two (simulated) nodes of 2, node-shared and with bf16 across the nodes; `exact` gives one process's bits.
    @Test func threadsInsideMPIRanksTakeTheBitsOfTheSameRanksAsProcesses() throws {
        let common = ["--data", "synthetic", "--batch-size", "64", "--max-steps", "6"]
        let name = "/checkpoint-step-000000006.safetensors"
        for extra in [[], ["--set", "training.cross_node_compression=bf16"], ["--gradient-exchange", "exact"]] {
            let hybrid = Fixtures.temporaryFolder("hybrid"), ranks = Fixtures.temporaryFolder("ranks")
            let (a, aOut, _) = try MPITests.mpirun(
                ["-n", "2", "--", CLITests.binary, "train", "--threads", "2", "--run-dir", hybrid] + common + extra)
            #expect(a == 0 && aOut.contains("2 rank(s) × 2 threads (gradient exchange:"), "\(aOut)")
            let (b, bOut, _) = try MPITests.mpirun(
                ["-n", "4", "--", MPITests.binary("vae-dist-faults"), "train", "--run-dir", ranks] + common + extra,
                environment: ["VAE_DIST_RANKS_PER_NODE": "2"])
            #expect(b == 0, "\(bOut)")
            #expect(try Fixtures.stateHash(hybrid + name) == Fixtures.stateHash(ranks + name), "\(extra)")
            let config = try TrainingConfiguration.load(path: hybrid + "/config.json")
            #expect(config.threads == 2)
        }
        let one = Fixtures.temporaryFolder("one")
        let (c, _, cErr) = try CLITests.run(
            ["train", "--threads", "1", "--blas-threads", "1", "--gradient-exchange", "exact", "--run-dir", one] + common)
        #expect(c == 0, "\(cErr)")
        let hybridExact = Fixtures.temporaryFolder("hybrid-exact")
        let (d, dOut, _) = try MPITests.mpirun(
            [
                "-n", "2", "--", CLITests.binary, "train", "--threads", "2", "--gradient-exchange", "exact", "--run-dir",
                hybridExact,
            ] + common)
        #expect(d == 0, "\(dOut)")
        #expect(try Fixtures.stateHash(one + name) == Fixtures.stateHash(hybridExact + name))
    }
}
