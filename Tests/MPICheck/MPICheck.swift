import CAllocationCounter
import Foundation
import Logging
import VAEDistributed
import VAEMPI
import VAEModel
import VAETestSupport
import VAETraining

/// `vae-dist-mpi-check CASE [--control NAME]`: multi-rank checks, run under `mpirun --timeout` by
/// Tests/VAEDistTests/MPITests.swift. Every rank runs the same case; rank 0 prints `PASS CASE` or
/// `FAIL CASE: why` and the job exits 0 only if every rank passed.
@main
struct MPICheck {
    static func main() throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let name = arguments.first else {
            FileHandle.standardError.write(
                Data(
                    "usage: vae-dist-mpi-check CASE [--control average|local-only|no-peer-sum] [--exchange allreduce|node-shared]\n"
                        .utf8))
            exit(2)
        }
        let control = arguments.firstIndex(of: "--control").map { arguments[$0 + 1] }
        let exchange =
            try arguments.firstIndex(of: "--exchange").map { index -> ExchangeStrategy in
                guard let value = ExchangeStrategy(rawValue: arguments[index + 1]) else {
                    throw ValidationFailure("--exchange \(arguments[index + 1])")
                }
                return value
            } ?? .allreduce
        let mpi = try MPICommunicator.start(
            ranksPerNode: ProcessInfo.processInfo.environment["VAE_DIST_RANKS_PER_NODE"].flatMap { Int($0) })
        var communicator: Communicator = mpi
        switch control {
        case "average": communicator = AveragingCommunicator(base: mpi)
        case "local-only": communicator = LocalOnlyCommunicator(base: mpi)
        default: break
        }
        var failures: [String] = []
        let check = Check(communicator: communicator, mpi: mpi, exchange: exchange, sumsOverPeers: control != "no-peer-sum") {
            failures.append($0)
        }
        do {
            switch name {
            case "collectives": check.collectives()
            case "gradient-equality": try check.gradientEquality()
            case "n-equals-1": try check.nRanksEqualOneRank()
            case "broadcast": try check.broadcastControl()
            case "resume": try check.exactResume()
            case "zero1", "overlap", "node-shared": try check.variantMatchesPlain(name)
            case "allocations": try check.allocationsPerStep()
            case "cross-node-overlap": try check.crossNodeOverlapGivesTheSameBits()
            case "allocations-hybrid": failures += Check.hybridAllocationsPerStep(mpi: mpi)
            default: failures.append("unknown case \(name)")
            }
        } catch {
            failures.append("threw \(error)")
        }
        // Agree: the job passes only if every rank passed.
        let failed = mpi.gather(failures.isEmpty ? 0 : 1)
        if !failures.isEmpty { print("rank \(mpi.rank): " + failures.prefix(5).joined(separator: "\n  ")) }
        fflush(nil)
        mpi.barrier()
        if mpi.rank == 0 {
            print(
                failed.allSatisfy { $0 == 0 }
                    ? "PASS \(name)" : "FAIL \(name) on ranks \(failed.indices.filter { failed[$0] != 0 })")
        }
        fflush(nil)
        mpi.finish()
        exit(failed.allSatisfy { $0 == 0 } ? 0 : 3)
    }
}

struct ValidationFailure: Error, CustomStringConvertible {
    let description: String
    init(_ what: String) { description = "unknown value: \(what)" }
}

/// A buffer's fingerprint as the Int64 the collectives carry.
func fingerprint(_ buffer: FlatBuffer) -> Int64 { Int64(bitPattern: buffer.fingerprint) }

struct Check {
    let communicator: Communicator
    let mpi: MPICommunicator
    /// The gradient exchange of the distributed trainers (`--exchange`; all-reduce unless given).
    let exchange: ExchangeStrategy
    /// False for the node-shared negative control: each rank "sums" only its own gradient.
    let sumsOverPeers: Bool
    let fail: (String) -> Void

    /// A trainer on this job's ranks with the checked exchange (and the negative control, if any).
    func distributedTrainer(_ configuration: TrainingConfiguration) throws -> Trainer {
        var control: (any GradientExchange)?
        if !sumsOverPeers {
            control = try OwnGradientOnlyExchange.make(
                communicator: communicator, topology: communicator.nodeTopology(),
                settings: ExchangeSettings(configuration))
        }
        return try Trainer(
            configuration: configuration, data: Check.data, communicator: communicator, logger: quiet,
            exchange: control)
    }

    /// The part of `trainer`'s gradient buffer that holds the sum over ranks after a step: all of it with the
    /// all-reduce, this rank's shard with the node-shared exchange.
    func summedRange(_ trainer: Trainer) -> Range<Int> { trainer.exchange.summedGradientRange }

    var quiet: Logger {
        var logger = Logger(label: "mpi-check")
        logger.logLevel = .critical
        return logger
    }

    func expect(_ condition: Bool, _ message: @autoclosure () -> String) { if !condition { fail(message()) } }

    /// Every rank's value equal (MIN == MAX over ranks).
    func sameOnAllRanks(_ value: Int64) -> Bool {
        var extremes: [Int64] = [value, value]
        extremes.withUnsafeMutableBufferPointer { b in
            mpi.allReduce(UnsafeMutableBufferPointer(rebasing: b[0..<1]), .min)
            mpi.allReduce(UnsafeMutableBufferPointer(rebasing: b[1..<2]), .max)
        }
        return extremes[0] == extremes[1]
    }

    /// 784–48–5–48–784 on a small synthetic set (76,874 parameters: uneven ZeRO shards at 4 ranks); global batch
    /// 32 (divisible by 1, 2, 4, 8).
    func configuration(_ folder: String) -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.architecture = Architecture(encoderHidden: [48], latentSize: 5, decoderHidden: [48])
        c.batchSize = 32
        c.epochs = 2
        c.dataSource = "synthetic"
        c.runDirectory = folder
        c.logEvery = 2
        c.gradientExchange = exchange
        return c
    }

    static let data = DataSplits.synthetic(trainCount: 200, testCount: 64)

    /// A folder shared by all ranks (rank 0 names it).
    func sharedFolder(_ name: String) -> String {
        let local =
            mpi.rank == 0 ? Array((NSTemporaryDirectory() + "vae-dist-mpi-\(name)-\(UUID().uuidString.prefix(8))").utf8) : nil
        return String(decoding: mpi.broadcast(bytes: local), as: UTF8.self)
    }

    /// Two trainers take the same 6 steps (3 global batches in each of 2 epochs) side by side; `check` runs after
    /// each with the loss sums each step returned.
    func lockstep(_ a: Trainer, _ b: Trainer, check: (_ epoch: Int, _ step: Int, _ a: LossTerms, _ b: LossTerms) -> Void) {
        for epoch in 0..<2 {
            let order = epochPermutation(count: Check.data.train.count, seed: 1, epoch: epoch)
            for step in 0..<3 {
                let (termsA, termsB) = order.withUnsafeBufferPointer { all in
                    let batch = UnsafeBufferPointer(rebasing: all[(step * 32)..<(step * 32 + 32)])
                    return (a.step(indices: batch, epoch: epoch), b.step(indices: batch, epoch: epoch))
                }
                check(epoch, step, termsA, termsB)
            }
        }
    }

    /// Loss sums equal within float32 tolerance (rtol 1.3e-6), the sample count exactly.
    func sameLoss(_ a: LossTerms, _ b: LossTerms) -> Bool {
        isClose(a.reconstruction, b.reconstruction, relative: 1.3e-6, absolute: 1e-5)
            && isClose(a.kl, b.kl, relative: 1.3e-6, absolute: 1e-5) && a.samples == b.samples
    }

    // MARK: cases

    /// Horovod's and mpi4py's manner: integer-valued sums exact, min/max exact, broadcast from every root exact,
    /// and MPICH's: every rank's float all-reduce result bitwise identical.
    func collectives() {
        let n = communicator.size, r = communicator.rank
        var stream = RandomStream(seed: 42, purpose: .prior)
        let count = 1000
        let base = (0..<count).map { _ in Float(stream.nextIndex(below: 201)) - 100 }  // same on every rank
        var floats = base.map { $0 * Float(r + 1) }
        floats.withUnsafeMutableBufferPointer { communicator.allReduce($0, .sum) }
        let factor = Float(n * (n + 1) / 2)
        expect(floats == base.map { $0 * factor }, "integer-valued float sum not exact")
        var doubles = base.map { Double($0) * Double(r + 1) }
        doubles.withUnsafeMutableBufferPointer { communicator.allReduce($0, .sum) }
        expect(doubles == base.map { Double($0) * Double(factor) }, "double sum not exact")
        var integers = (0..<count).map { Int64($0) * Int64(r + 1) + (Int64(1) << 40) }
        integers.withUnsafeMutableBufferPointer { communicator.allReduce($0, .sum) }
        expect(integers == (0..<count).map { Int64($0) * Int64(n * (n + 1) / 2) + Int64(n) << 40 }, "int64 sum not exact")
        for (op, expected) in [(ReductionOperation.min, Float(0)), (.max, Float(n - 1))] {
            var values = [Float](repeating: Float(r), count: 7)
            values.withUnsafeMutableBufferPointer { communicator.allReduce($0, op) }
            expect(values.allSatisfy { $0 == expected }, "float \(op) gave \(values[0])")
            var d = [Double](repeating: Double(r) - 0.5, count: 3)
            d.withUnsafeMutableBufferPointer { communicator.allReduce($0, op) }
            expect(d.allSatisfy { $0 == Double(expected) - 0.5 }, "double \(op)")
            var i = [Int64](repeating: Int64(r) * 1_000_000_007, count: 3)
            i.withUnsafeMutableBufferPointer { communicator.allReduce($0, op) }
            expect(i.allSatisfy { $0 == Int64(expected) * 1_000_000_007 }, "int64 \(op)")
        }
        for root in 0..<n {
            var bytes = (0..<4099).map { UInt8(truncatingIfNeeded: $0 * 7 + r) }
            let original = bytes
            bytes.withUnsafeMutableBytes { communicator.broadcast($0, root: root) }
            expect(bytes == (0..<4099).map { UInt8(truncatingIfNeeded: $0 * 7 + root) }, "broadcast from \(root) not exact")
            if r == root { expect(bytes == original, "root \(root)'s source changed") }
        }
        // Values of very different magnitude expose reductions whose result depends on the rank.
        var mixed = (0..<4096).map { i -> Float in
            var s = RandomStream(seed: UInt64(r), purpose: .prior, index: UInt64(i))
            return (s.nextUnitFloat() - 0.5) * (i % 3 == 0 ? 1e6 : 1e-2)
        }
        mixed.withUnsafeMutableBufferPointer { communicator.allReduce($0, .sum) }
        let bits = mixed.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1.bitPattern)) &* 0x100_0000_01b3 }
        expect(sameOnAllRanks(Int64(bitPattern: bits)), "float all-reduce results differ between ranks")
    }

    /// After each of 4 steps the gradient buffer, parameters and both Adam moments are bitwise equal on every rank.
    func gradientEquality() throws {
        let folder = sharedFolder("equality")
        let trainer = try distributedTrainer(configuration(folder))
        try trainer.synchronizeStart()
        let order = epochPermutation(count: Check.data.train.count, seed: 1, epoch: 0)
        for step in 0..<4 {
            _ = order.withUnsafeBufferPointer {
                trainer.step(indices: UnsafeBufferPointer(rebasing: $0[(step * 32)..<(step * 32 + 32)]), epoch: 0)
            }
            // Node-shared ranks hold summed gradients only in their own shard; the parameters and moments are
            // one copy per node, so equality across ranks is checked between nodes.
            let checked = trainer.exchange is NodeSharedExchange ? [] : [("gradients", trainer.model.gradients)]
            for (name, buffer) in checked + [
                ("parameters", trainer.model.parameters),
                ("exp_avg", trainer.optimizer.firstMoment), ("exp_avg_sq", trainer.optimizer.secondMoment),
            ] {
                expect(sameOnAllRanks(fingerprint(buffer)), "step \(step + 1): \(name) differ between ranks")
            }
        }
    }

    /// N ranks on global batch B take the same steps as one process on B: gradients after the all-reduce and
    /// parameters after each step match within float32 tolerance (PyTorch's rtol 1.3e-6 / atol 1e-5 for the
    /// parameters; gradients of a summed loss get atol scaled by the buffer's largest magnitude).
    func nRanksEqualOneRank() throws {
        let folder = sharedFolder("n-equals-1")
        let distributed = try distributedTrainer(configuration(folder))
        var soloConfiguration = configuration(folder + "-solo-\(mpi.rank)")
        soloConfiguration.blasThreads = 0
        soloConfiguration.gradientExchange = .allreduce
        let solo = try Trainer(configuration: soloConfiguration, data: Check.data, logger: quiet)
        try distributed.synchronizeStart()
        expect(distributed.model.parameters.bytes == solo.model.parameters.bytes, "initial parameters differ")
        var worstGradient: Float = 0, worstParameter: Float = 0
        lockstep(distributed, solo) { epoch, step, terms, soloTerms in
            expect(
                sameLoss(terms, soloTerms),
                "epoch \(epoch) step \(step + 1): loss sums \(terms) differ from one process's \(soloTerms)")
            let g = distributed.model.gradients.buffer, h = solo.model.gradients.buffer
            let scale = h.reduce(Float(0)) { max($0, abs($1)) }
            for i in summedRange(distributed) {
                let error = abs(g[i] - h[i]) / (1e-5 * scale + 1.3e-6 * abs(h[i]) + .leastNormalMagnitude)
                worstGradient = max(worstGradient, error)
            }
            let p = distributed.model.parameters.buffer, q = solo.model.parameters.buffer
            for i in p.indices { worstParameter = max(worstParameter, abs(p[i] - q[i]) / (1e-5 + 1.3e-6 * abs(q[i]))) }
            expect(
                worstGradient <= 1,
                "epoch \(epoch) step \(step + 1): gradients differ from one process by \(worstGradient)× the tolerance")
            expect(
                worstParameter <= 1,
                "epoch \(epoch) step \(step + 1): parameters differ from one process by \(worstParameter)× the tolerance")
        }
        if mpi.rank == 0 {
            print(
                String(
                    format: "n-equals-1: worst gradient error %.3g, worst parameter error %.3g (1 = tolerance)", worstGradient,
                    worstParameter))
        }
    }

    /// Negative control for the start-up broadcast: ranks initialized differently differ before it, agree after.
    func broadcastControl() throws {
        let trainer = try Trainer(
            configuration: configuration(sharedFolder("broadcast")), data: Check.data, communicator: communicator, logger: quiet)
        trainer.model.layout.initialize(trainer.model.parameters, seed: UInt64(100 + communicator.rank))
        expect(!sameOnAllRanks(fingerprint(trainer.model.parameters)), "differently seeded ranks already agree")
        try trainer.synchronizeStart()
        expect(sameOnAllRanks(fingerprint(trainer.model.parameters)), "parameters differ after the broadcast")
        var rank0 = trainer.model.layout.count
        if communicator.rank == 0 {
            let fresh = FlatBuffer(count: rank0)
            trainer.model.layout.initialize(fresh, seed: 100)
            expect(fresh.bytes == trainer.model.parameters.bytes, "rank 0's parameters were not the ones broadcast")
            rank0 = 0
        }
    }

    /// ZeRO-1 (`zero1`), the overlapped all-reduce (`overlap`) or the node-shared exchange (`node-shared`) against
    /// the plain all-reduce path on the same global batches: parameters after each step and the (gathered) Adam
    /// moments within float32 tolerance (rtol 1.3e-6, atol 1e-5).
    func variantMatchesPlain(_ name: String) throws {
        var plainConfiguration = configuration(sharedFolder("plain"))
        plainConfiguration.gradientExchange = .allreduce
        let plain = try Trainer(configuration: plainConfiguration, data: Check.data, communicator: communicator, logger: quiet)
        var variant = configuration(sharedFolder(name))
        switch name {
        case "overlap": variant.gradientExchange = .allreduceOverlapped
        case "zero1": variant.gradientExchange = .shardedAdam
        default: variant.gradientExchange = .nodeShared
        }
        let other = try distributedTrainer(variant)
        try plain.synchronizeStart()
        try other.synchronizeStart()
        var worst: Float = 0
        lockstep(plain, other) { epoch, step, plainTerms, terms in
            expect(
                sameLoss(terms, plainTerms),
                "epoch \(epoch) step \(step + 1): loss sums \(terms) differ from the plain path's \(plainTerms)")
            let p = other.model.parameters.buffer, q = plain.model.parameters.buffer
            for i in p.indices { worst = max(worst, abs(p[i] - q[i]) / (1e-5 + 1.3e-6 * abs(q[i]))) }
            expect(sameOnAllRanks(fingerprint(other.model.parameters)), "parameters differ between ranks")
        }
        expect(worst <= 1, "parameters differ from the plain path by \(worst)× the tolerance")
        other.exchange.gatherOptimizerState()
        for (name, a, b) in [
            ("exp_avg", other.optimizer.firstMoment, plain.optimizer.firstMoment),
            ("exp_avg_sq", other.optimizer.secondMoment, plain.optimizer.secondMoment),
        ] {
            var worstMoment: Float = 0
            for i in 0..<a.count {
                worstMoment = max(worstMoment, abs(a.pointer[i] - b.pointer[i]) / (1e-5 + 1.3e-6 * abs(b.pointer[i])))
            }
            expect(worstMoment <= 1, "\(name) differs from the plain path by \(worstMoment)× the tolerance")
        }
        expect(other.optimizer.step == plain.optimizer.step, "Adam step counts differ")
        if mpi.rank == 0 { print(String(format: "%@: worst parameter difference %.3g of the tolerance", name, worst)) }
    }

    /// The node-shared exchange with its hop between nodes overlapped with backward (float32 and bf16) against the
    /// same exchange without: the same loss sums and the same parameter bits after every step.
    func crossNodeOverlapGivesTheSameBits() throws {
        for compression in CrossNodeCompression.allCases {
            var plainConfiguration = configuration(sharedFolder("cross-plain"))
            plainConfiguration.gradientExchange = .nodeShared
            plainConfiguration.crossNodeCompression = compression
            var overlappedConfiguration = plainConfiguration
            overlappedConfiguration.runDirectory = sharedFolder("cross-overlapped")
            overlappedConfiguration.crossNodeOverlap = true
            let plain = try distributedTrainer(plainConfiguration), overlapped = try distributedTrainer(overlappedConfiguration)
            let nodes = try communicator.nodeTopology().nodeCount
            expect(
                overlapped.exchange.description.contains("overlapped with backward") == (nodes > 1),
                "the exchange should overlap with \(nodes) node(s): \(overlapped.exchange.description)")
            try plain.synchronizeStart()
            try overlapped.synchronizeStart()
            lockstep(plain, overlapped) { epoch, step, plainTerms, terms in
                expect(
                    terms == plainTerms, "\(compression): epoch \(epoch) step \(step + 1): loss sums \(terms) vs \(plainTerms)")
                expect(
                    fingerprint(overlapped.model.parameters) == fingerprint(plain.model.parameters),
                    "\(compression): epoch \(epoch) step \(step + 1): parameters differ from the exchange without overlap")
            }
            if mpi.rank == 0 { print("cross-node overlap, \(compression) across \(nodes) node(s): the same bits as without") }
        }
    }

    /// Every strategy at this rank count: no heap allocation per step outside the collectives, and those inside
    /// them (the MPI library's own) counted and named per strategy. Node-shared on one node makes none at all.
    /// The default model at 64 rows per rank with one BLAS thread, as `bench` runs it.
    func allocationsPerStep() throws {
        expect(vae_allocation_counting_active() == 1, "vae-dist-mpi-check links the counting allocator")
        let counting = AllocationAttributingCommunicator(base: communicator) { vae_thread_allocation_count() }
        var lines: [String] = []
        for strategy in ExchangeStrategy.allCases where strategy != .auto {
            var c = TrainingConfiguration()
            c.gradientExchange = strategy
            c.dataSource = "synthetic"
            c.runDirectory = sharedFolder("allocations-\(strategy.rawValue)")
            c.blasThreads = 1
            c.batchSize = 64 * communicator.size
            let data = DataSplits.synthetic(trainCount: 512, testCount: 16)
            let trainer = try Trainer(configuration: c, data: data, communicator: counting, logger: quiet)
            try trainer.synchronizeStart()
            let steps = 5
            let all = Check.allocations(of: trainer, steps: steps) { counting.reset() }
            let mpi = counting.total
            expect(all == mpi, "\(strategy.rawValue): \(all - mpi) heap allocations in \(steps) steps outside the MPI calls")
            if strategy == .nodeShared { expect(all == 0, "node-shared: \(all) heap allocations in \(steps) steps") }
            let named = AllocationAttributingCommunicator.Kind.allCases.filter { counting.inside($0) > 0 }
                .map {
                    String(
                        format: "%@ %.1f", "\($0)",
                        Double(counting.inside($0)) / Double(steps))
                }
                .joined(separator: ", ")
            lines.append(
                "\(strategy.rawValue): \(Double(all) / Double(steps)) per step, all inside MPI\(named.isEmpty ? "" : " (\(named))")"
            )
        }
        if mpi.rank == 0 { print("allocations per step on rank 0, outside MPI none:\n  " + lines.joined(separator: "\n  ")) }
    }

    /// Heap allocations on this thread in `steps` steps of `trainer` over its training set (after one warm-up step
    /// and `resetCounters`).
    static func allocations(of trainer: Trainer, steps: Int, resetCounters: () -> Void) -> UInt64 {
        let batch = trainer.configuration.batchSize
        let order = epochPermutation(count: trainer.data.train.count, seed: 1, epoch: 0)
        return order.withUnsafeBufferPointer { indices -> UInt64 in
            _ = trainer.step(indices: UnsafeBufferPointer(rebasing: indices[0..<batch]), epoch: 0)  // warm-up
            resetCounters()
            let before = vae_thread_allocation_count()
            for s in 1...steps {
                let lower = s % 4 * batch
                _ = trainer.step(indices: UnsafeBufferPointer(rebasing: indices[lower..<(lower + batch)]), epoch: 0)
            }
            return vae_thread_allocation_count() - before
        }
    }

    /// Hybrid (each rank two threads): every strategy's steps allocate on the threads only inside the MPI calls
    /// thread 0 makes for them (counted by wrapping the group's outer communicator), nothing on thread 1.
    static func hybridAllocationsPerStep(mpi: MPICommunicator) -> [String] {
        guard vae_allocation_counting_active() == 1 else { return ["vae-dist-mpi-check links the counting allocator"] }
        let outer = AllocationAttributingCommunicator(base: mpi) { vae_thread_allocation_count() }
        let group = ThreadGroup(size: 2, outer: outer)
        let folder = NSTemporaryDirectory() + "vae-dist-mpi-hybrid-\(UUID().uuidString.prefix(8))"
        let results = group.run { communicator -> [String] in
            var failures: [String] = []
            var lines: [String] = []
            for strategy in ExchangeStrategy.allCases where strategy != .auto {
                var c = TrainingConfiguration()
                c.gradientExchange = strategy
                c.dataSource = "synthetic"
                c.runDirectory = folder
                c.blasThreads = 1
                c.batchSize = 64 * communicator.size
                let data = DataSplits.synthetic(trainCount: 1024, testCount: 16)
                var logger = Logger(label: "mpi-check")
                logger.logLevel = .critical
                do {
                    let trainer = try Trainer(configuration: c, data: data, communicator: communicator, logger: logger)
                    try trainer.synchronizeStart()
                    let steps = 4
                    let all = Check.allocations(of: trainer, steps: steps) {
                        communicator.barrier()
                        if communicator.rank % 2 == 0 { outer.reset() }
                        communicator.barrier()
                    }
                    let insideMPI = communicator.rank % 2 == 0 ? outer.total : 0
                    if all != insideMPI {
                        failures.append(
                            "hybrid \(strategy.rawValue), rank \(communicator.rank): \(all - insideMPI) heap allocations in \(steps) steps outside the MPI calls"
                        )
                    }
                    lines.append("\(strategy.rawValue): \(Double(all) / Double(steps)) per step, all inside MPI")
                } catch {
                    failures.append("hybrid \(strategy.rawValue): threw \(error)")
                }
            }
            if communicator.rank == 0 {
                print("hybrid allocations per step on rank 0 (thread 0), outside MPI none:\n  " + lines.joined(separator: "\n  "))
            }
            return failures
        }
        return results.flatMap { $0 }
    }

    /// Interrupted-and-resumed equals uninterrupted, bit for bit, under mpirun.
    func exactResume() throws {
        let config = configuration(sharedFolder("resume-a"))
        let reference = try Trainer(configuration: config, data: Check.data, communicator: communicator, logger: quiet)
        _ = try reference.run()
        // 7 steps per epoch, a checkpoint every 3: stop mid-epoch 2 between checkpoints (10) and on one (9), where
        // the final save must be skipped by every rank alike.
        for stop in [10, 9] {
            var interrupted = configuration(sharedFolder("resume-b\(stop)"))
            interrupted.checkpointEvery = 3
            var first = interrupted
            first.maxSteps = stop
            _ = try Trainer(configuration: first, data: Check.data, communicator: communicator, logger: quiet).run()
            let resumed = try Trainer(configuration: interrupted, data: Check.data, communicator: communicator, logger: quiet)
            _ = try resumed.run(resume: .latest)
            expect(
                resumed.position == reference.position,
                "stop \(stop): positions differ: \(resumed.position) vs \(reference.position)")
            for (name, a, b) in [
                ("parameters", resumed.model.parameters, reference.model.parameters),
                ("exp_avg", resumed.optimizer.firstMoment, reference.optimizer.firstMoment),
                ("exp_avg_sq", resumed.optimizer.secondMoment, reference.optimizer.secondMoment),
            ] {
                expect(a.bytes == b.bytes, "stop \(stop): \(name) differ after resume")
                expect(sameOnAllRanks(fingerprint(a)), "stop \(stop): \(name) differ between ranks")
            }
            if communicator.rank == 0 {
                let a = metrics(interrupted.runDirectory), b = metrics(config.runDirectory)
                expect(!b.isEmpty && a == b, "stop \(stop): logged losses differ after resume (\(a.count) vs \(b.count) records)")
            }
        }
    }

    /// metrics.jsonl without the wall-clock fields.
    func metrics(_ folder: String) -> [String] {
        ((try? String(contentsOfFile: folder + "/metrics.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").map {
            $0.replacingOccurrences(of: #""(samples_per_second|seconds)":[^,}]*,?"#, with: "", options: .regularExpression)
        }
    }

}
