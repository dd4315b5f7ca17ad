import Foundation
import VAEDistributed
import VAEModel

/// What `vae-dist bench` measured, in one run (all ranks together under mpirun).
public struct BenchmarkReport: Sendable {
    public var ranks: Int
    public var batchPerRank: Int
    public var blasThreads: Int
    public var architecture: String
    /// OpenBLAS's kernels and who chose them.
    public var blasKernels: BLASKernelChoice
    /// The strategy asked for (`--gradient-exchange`).
    public var strategy: String
    /// How the gradients travelled, in the exchange's words (`all-reduce`, `node-shared, 2 rank(s) per node, …`).
    public var exchange: String
    /// Rows of one forward pass (the per-rank batch, or the exact exchange's micro-batch): the GEMM shapes.
    public var forwardRows: Int
    /// sgemm rate on the model's own shapes, per rank (min and max over ranks), GFLOP/s.
    public var gemmGigaflops: (min: Double, max: Double)
    public var gemmPerShape: [(shape: String, gigaflops: Double)]
    public var flopsPerSample: Double
    /// The GEMM-bound ceiling in samples/s per rank (from the slowest rank's sgemm rate).
    public var ceilingPerRank: Double
    /// Training samples/s per rank (min and max over ranks) and over all ranks.
    public var samplesPerSecondPerRank: (min: Double, max: Double)
    public var samplesPerSecondTotal: Double
    /// Milliseconds per step by phase (rank 0's; the GEMMs at the measured sgemm rate, the rest of forward and
    /// backward element-wise), and the all-reduce share (max over ranks).
    public var phaseMilliseconds: [(String, Double)]
    public var allReduceShare: Double
    public var allocationsPerStep: Double
    public var allocationCounting: Bool
    public var peakResidentMegabytes: Double
    public var dataMegabytes: Double

    public var fractionOfCeiling: Double { samplesPerSecondPerRank.min / ceilingPerRank }

    /// Human-readable lines.
    public var text: String {
        var lines: [String] = []
        lines.append(
            "vae-dist bench: \(architecture), batch \(batchPerRank) per rank, \(ranks) rank(s), BLAS threads \(blasThreads), OpenBLAS \(blasKernels), gradient exchange \(strategy): \(exchange)"
        )
        lines.append(
            String(
                format: "sgemm on the model's shapes: %.1f GFLOP/s per rank%@", gemmGigaflops.min,
                ranks > 1 ? String(format: " (slowest rank; fastest %.1f)", gemmGigaflops.max) : ""))
        lines.append("  " + gemmPerShape.map { String(format: "%@ %.1f", $0.shape, $0.gigaflops) }.joined(separator: ", "))
        lines.append(
            String(
                format:
                    "GEMM FLOPs per training sample: %.3f MFLOP -> GEMM-bound ceiling %.0f samples/s per rank (GEMMs of %d rows)",
                flopsPerSample / 1e6, ceilingPerRank, forwardRows))
        lines.append(
            String(
                format: "trainer: %.0f samples/s per rank (%.1f%% of the ceiling)%@; total %.0f samples/s",
                samplesPerSecondPerRank.min, 100 * fractionOfCeiling,
                ranks > 1 ? String(format: ", fastest rank %.0f", samplesPerSecondPerRank.max) : "",
                samplesPerSecondTotal))
        let total = phaseMilliseconds.reduce(0) { $0 + $1.1 }
        lines.append(
            String(format: "step %.3f ms (GEMMs at the measured sgemm rate): ", total)
                + phaseMilliseconds.map {
                    String(format: "%@ %.3f ms (%.1f%%)", $0.0, $0.1, 100 * $0.1 / total)
                }.joined(separator: ", "))
        if ranks > 1 {
            lines.append(String(format: "all-reduce share of the step: %.1f%% (largest over ranks)", 100 * allReduceShare))
        }
        lines.append(
            allocationCounting
                ? String(format: "heap allocations per step: %.2f", allocationsPerStep)
                : "heap allocations per step: not counted in this build")
        lines.append(
            String(
                format: "peak RSS: %.1f MB (data %.1f MB, beyond the data %.1f MB)", peakResidentMegabytes,
                dataMegabytes, peakResidentMegabytes - dataMegabytes))
        return lines.joined(separator: "\n")
    }

    /// One JSON object (for scripts).
    public var json: String {
        let phases = phaseMilliseconds.map { "\"\($0.0)_ms\":\($0.1)" }.joined(separator: ",")
        return
            "{\"ranks\":\(ranks),\"blas_core\":\"\(blasKernels.kernels)\",\"blas_kernels_chosen_by\":\"\(blasKernels.source.rawValue)\",\"strategy\":\"\(strategy)\",\"exchange\":\"\(exchange)\",\"forward_rows\":\(forwardRows),\"batch_per_rank\":\(batchPerRank),\"blas_threads\":\(blasThreads),"
            + "\"sgemm_gflops\":\(gemmGigaflops.min),\"sgemm_gflops_max\":\(gemmGigaflops.max),"
            + "\"flops_per_sample\":\(flopsPerSample),\"ceiling_samples_per_second\":\(ceilingPerRank),"
            + "\"samples_per_second_per_rank\":\(samplesPerSecondPerRank.min),\"samples_per_second_per_rank_max\":\(samplesPerSecondPerRank.max),"
            + "\"samples_per_second_total\":\(samplesPerSecondTotal),\"fraction_of_ceiling\":\(fractionOfCeiling),"
            + "\"allreduce_share\":\(allReduceShare),\"allocations_per_step\":\(allocationsPerStep),"
            + "\"peak_rss_mb\":\(peakResidentMegabytes),\"data_mb\":\(dataMegabytes),\(phases)}"
    }
}

/// `vae-dist bench`: the sgemm ceiling and the trainer's speed measured in the same run, in three alternating
/// rounds; each figure is its best round (the step split and allocations cover all rounds).
public enum Benchmark {
    /// Runs `warmup` then `steps` training steps at `configuration.batchSize` (the global batch) on every rank.
    /// `allocationCount` returns the calling thread's heap-allocation count (nil: not counted).
    public static func run(
        configuration: TrainingConfiguration, data: DataSplits, communicator: Communicator,
        steps: Int, warmup: Int, allocationCount: (() -> UInt64)?
    ) throws -> BenchmarkReport {
        let trainer = try Trainer(configuration: configuration, data: data, communicator: communicator)
        let layout = trainer.model.layout
        // Samples per rank per step, and the rows of each forward pass (fewer with micro-batches): the ceiling is
        // measured on the GEMMs the steps really run.
        let perRank = communicator.share(of: configuration.batchSize).count
        let forwardRows = trainer.model.batchCapacity

        try trainer.synchronizeStart()
        let order = epochPermutation(count: data.train.count, seed: configuration.seed, epoch: 0)
        let batches = data.train.count / configuration.batchSize
        precondition(batches > 0, "the benchmark needs at least one full global batch of data")
        var next = 0
        func run(_ count: Int) {
            order.withUnsafeBufferPointer { all in
                for _ in 0..<count {
                    let b = next % batches
                    next += 1
                    _ = trainer.step(
                        indices: UnsafeBufferPointer(
                            rebasing: all[(b * configuration.batchSize)..<((b + 1) * configuration.batchSize)]), epoch: 0)
                }
            }
        }
        run(warmup)

        // Rounds alternate the sgemm ceiling and the trainer, so both see the same machine; on a noisy machine
        // the best round of each is the least disturbed.
        let rounds = 3
        var ceiling = GEMMCeiling.measure(layout, batch: forwardRows, repetitions: 10)
        var bestRate = 0.0
        let profile = StepProfile()
        var allocations: UInt64 = 0
        for _ in 0..<rounds {
            communicator.barrier()
            let measured = GEMMCeiling.measure(layout, batch: forwardRows)
            if measured.gigaflops > ceiling.gigaflops { ceiling = measured }
            communicator.barrier()
            trainer.profile = profile
            let allocationsBefore = allocationCount?() ?? 0
            let start = monotonicNanoseconds()
            run(steps / rounds)
            let elapsed = Double(monotonicNanoseconds() - start) / 1e9
            allocations += (allocationCount?() ?? 0) - allocationsBefore
            trainer.profile = nil
            bestRate = max(bestRate, Double(steps / rounds * perRank) / elapsed)
        }
        var gemm = [ceiling.gigaflops, -ceiling.gigaflops]
        gemm.withUnsafeMutableBufferPointer { b in
            communicator.allReduce(UnsafeMutableBufferPointer(rebasing: b[0..<1]), .min)
            communicator.allReduce(UnsafeMutableBufferPointer(rebasing: b[1..<2]), .min)
        }
        let mine = bestRate
        let share = Double(profile.allReduce) / Double(max(profile.total, 1))
        var stats = [mine, -mine, mine, share, Double(allocations)]
        stats.withUnsafeMutableBufferPointer { b in
            communicator.allReduce(UnsafeMutableBufferPointer(rebasing: b[0..<2]), .min)
            communicator.allReduce(UnsafeMutableBufferPointer(rebasing: b[2..<3]), .sum)
            communicator.allReduce(UnsafeMutableBufferPointer(rebasing: b[3..<5]), .max)
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let dataBytes = Double(
            [data.train, data.test].reduce(0) { $0 + ($1.map { $0.storage.byteCount + $0.labels.count } ?? 0) })
        let ms = { (ns: UInt64) in Double(ns) / 1e6 / Double(max(profile.steps, 1)) }
        let ceilingPerRank = gemm[0] * 1e9 / ceiling.flopsPerSample
        // The GEMMs' share of forward and backward at the sgemm rate this rank measured on the same shapes (the
        // math library has no clock of its, and no instrument in the step); the rest of it is element-wise work.
        let computeMilliseconds = ms(profile.compute)
        let gemmMilliseconds = min(
            computeMilliseconds, ceiling.flopsPerSample * Double(perRank) / (ceiling.gigaflops * 1e9) * 1e3)
        let phases: [(String, Double)] = [
            ("gemm", gemmMilliseconds), ("elementwise", computeMilliseconds - gemmMilliseconds),
            ("optimizer", ms(profile.optimizer)), ("all-reduce", ms(profile.allReduce)), ("data", ms(profile.data)),
        ]
        return BenchmarkReport(
            ranks: communicator.size, batchPerRank: perRank, blasThreads: BLAS.threadCount,
            architecture: configuration.architecture.describe, blasKernels: BLASKernels.current,
            strategy: configuration.gradientExchange.rawValue, exchange: trainer.exchange.description, forwardRows: forwardRows,
            gemmGigaflops: (gemm[0], -gemm[1]),
            gemmPerShape: ceiling.perShape.map { ($0.shape.description, $0.gigaflops) },
            flopsPerSample: ceiling.flopsPerSample, ceilingPerRank: ceilingPerRank,
            samplesPerSecondPerRank: (stats[0], -stats[1]), samplesPerSecondTotal: stats[2],
            phaseMilliseconds: phases, allReduceShare: stats[3],
            allocationsPerStep: stats[4] / Double(rounds * (steps / rounds)), allocationCounting: allocationCount != nil,
            peakResidentMegabytes: Double(usage.ru_maxrss) / 1024, dataMegabytes: dataBytes / 1e6 * 1e6 / 1048576)
    }
}
