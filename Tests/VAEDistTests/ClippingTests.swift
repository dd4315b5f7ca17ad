import Foundation
import Testing
@testable import VAEDistributed
import VAEModel
@testable import VAETraining

/// Gradient clipping by global norm on the summed gradient.
@Suite struct ClippingTests {
    @Test func theClipperScalesToTheNormAndLeavesSmallGradientsAlone() {
        var values: [Float] = [3, 4]
        let clipper = GradientClipper(maxNorm: 1)
        values.withUnsafeMutableBufferPointer { clipper.clip($0.baseAddress!, count: 2) }
        #expect(clipper.lastNorm == 5 && values == [Float(0.6), Float(0.8)])
        var small: [Float] = [0.3, 0.4]
        let loose = GradientClipper(maxNorm: 10)
        small.withUnsafeMutableBufferPointer { loose.clip($0.baseAddress!, count: 2) }
        #expect(abs(loose.lastNorm - 0.5) < 1e-7 && small == [0.3, 0.4])
        let off = GradientClipper(maxNorm: 0)
        small.withUnsafeMutableBufferPointer { off.clip($0.baseAddress!, count: 2) }
        #expect(off.lastNorm == 0 && small == [0.3, 0.4])
    }

    /// One step with clipping equals, bit for bit, the gradient computed separately, scaled by c / ‖g‖ and given to
    /// Adam; the clipper's norm agrees with a float64 recomputation (summed in another order).
    @Test func aClippedStepIsTheScaledAdamUpdate() throws {
        let data = Fixtures.smallData
        var config = Fixtures.smallConfiguration(runDirectory: Fixtures.temporaryFolder())
        config.clipGradientNorm = 20
        var plainConfig = config
        plainConfig.clipGradientNorm = 0
        let clipped = try Trainer(configuration: config, data: data, logger: Fixtures.quietLogger)
        let plain = try Trainer(configuration: plainConfig, data: data, logger: Fixtures.quietLogger)
        #expect(clipped.model.parameters.bytes == plain.model.parameters.bytes)
        let indices = (0..<Int32(32)).map { $0 * 3 }
        // The plain replica's gradient, by hand.
        var timer = StepTimer(nil)
        _ = indices.withUnsafeBufferPointer {
            plain.model.localGradients(indices: $0, rows: 0..<32, epoch: 0, source: plain.batches, timer: &timer)
        }
        let g = plain.model.gradients.array
        let halves = [g.prefix(g.count / 2), g.suffix(from: g.count / 2)]
        let norm = halves.map { $0.reversed().reduce(0.0) { $0 + Double($1) * Double($1) } }.reduce(0, +).squareRoot()
        #expect(norm > 20, "the test needs a gradient that clipping changes (‖g‖ = \(norm))")
        let scale = Float(20 / norm)
        for i in 0..<g.count { plain.model.gradients.pointer[i] *= scale }
        plain.optimizer.update(parameters: plain.model.parameters, gradients: plain.model.gradients)

        _ = indices.withUnsafeBufferPointer { clipped.step(indices: $0, epoch: 0) }
        #expect(abs(clipped.exchange.clipper.lastNorm - norm) <= 1e-9 * norm, "\(clipped.exchange.clipper.lastNorm) vs \(norm)")
        #expect(clipped.model.parameters.bytes == plain.model.parameters.bytes, "the clipped step is not the scaled update")
    }

    static func train(ranks: Int?, exchange: String, clip: Double, folder: String) throws -> (String, [Double]) {
        let args = [
            "--config", FaultToleranceTests.config, "--blas-threads", "1", "--max-steps", "4", "--log-every", "1",
            "--gradient-exchange", exchange, "--set", "training.micro_batches=4", "--set", "training.clip_grad_norm=\(clip)",
            "--run-dir", folder,
        ]
        let cli = MPITests.binary("vae-dist")
        if let ranks {
            let (status, output, _) = try MPITests.mpirun(["-n", "\(ranks)", "--", cli] + args)
            #expect(status == 0, "\(output)")
        } else {
            let (status, out, err) = try CLITests.run(args)
            #expect(status == 0, "\(out)\(err)")
        }
        let norms = try String(contentsOfFile: folder + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["grad_norm"] as? Double
        }
        return (try Fixtures.stateHash(folder + "/" + CheckpointStore.fileName(step: 4)), norms)
    }
}

/// Clipping under mpirun: every strategy computes the same norm (the sharded ones from their shards), and the exact
/// exchange clips to the same bits at 1 and 4 ranks.
@Suite(.serialized) struct ClippingMPITests {
    @Test func exactClippingIsTheSameBitsAtOneAndFourRanks() throws {
        let one = try ClippingTests.train(ranks: nil, exchange: "exact", clip: 50, folder: FaultToleranceTests.folder("clip1"))
        let four = try ClippingTests.train(ranks: 4, exchange: "exact", clip: 50, folder: FaultToleranceTests.folder("clip4"))
        #expect(one.1.count == 4 && one.1[0] > 50, "clipping must be active: norms \(one.1)")
        #expect(four.0 == one.0 && four.1 == one.1, "exact + clipping: -n 4 differs from one process")
        let unclipped = try ClippingTests.train(
            ranks: nil, exchange: "exact", clip: 0, folder: FaultToleranceTests.folder("clip0"))
        #expect(unclipped.0 != one.0 && unclipped.1.isEmpty)
    }

    @Test func everyStrategyComputesTheSameNorm() throws {
        let reference = try ClippingTests.train(
            ranks: nil, exchange: "allreduce", clip: 50, folder: FaultToleranceTests.folder("clipref"))
        for exchange in ["allreduce", "allreduce-overlapped", "sharded-adam", "node-shared"] {
            let run = try ClippingTests.train(
                ranks: 2, exchange: exchange, clip: 50, folder: FaultToleranceTests.folder("clip-\(exchange)"))
            #expect(run.1.count == 4, "\(exchange): \(run.1)")
            for (a, b) in zip(run.1, reference.1) {
                #expect(abs(a - b) <= 1e-4 * b, "\(exchange): norms \(run.1) vs \(reference.1)")
            }
        }
    }
}

/// The cross-node hop in bfloat16 with error feedback (``CompressedCrossNodeSum``).
@Suite struct CrossNodeCompressionTests {
    /// Two "nodes" as seen from node 0: the gather returns this node's message and a fixed message of the other.
    final class TwoNodes: NodeSharedMemory {
        let other: [UInt16]
        init(other: [UInt16]) { self.other = other }
        func segment(of localRank: Int) -> UnsafeMutableRawPointer { fatalError("not used") }
        func synchronizeNode() {}
        func allReduceAcrossNodes(_ buffer: UnsafeMutableBufferPointer<Float>) {}
        func allGatherAcrossNodes(_ send: UnsafeRawBufferPointer, into receive: UnsafeMutableRawBufferPointer) {
            receive.baseAddress!.copyMemory(from: send.baseAddress!, byteCount: send.count)
            other.withUnsafeBytes { (receive.baseAddress! + send.count).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
    }

    @Test func bfloatRoundsToNearestEven() {
        typealias C = CompressedCrossNodeSum
        #expect(C.bfloat(1) == 0x3F80 && C.float(0x3F80) == 1)
        #expect(C.bfloat(Float(bitPattern: 0x3F80_8000)) == 0x3F80)  // a tie rounds to the even 0x3F80
        #expect(C.bfloat(Float(bitPattern: 0x3F81_8000)) == 0x3F82)  // and to the even 0x3F82
        #expect(C.bfloat(Float(bitPattern: 0x3F80_8001)) == 0x3F81)
        #expect(C.float(C.bfloat(-3.5)) == -3.5 && C.bfloat(.nan) & 0x7FC0 == 0x7FC0)
        for x: Float in [1e-3, 123.456, -9876.5, 3e30] {
            #expect(abs(C.float(C.bfloat(x)) - x) <= abs(x) * 0x1p-8)
        }
    }

    @Test func theSumIsTheNodesMessagesAndTheRoundingIsSentLater() {
        let g: Float = 1.0 + 0x1p-10  // not a bfloat: each message rounds it
        let sum = CompressedCrossNodeSum(count: 1, nodeCount: 2)
        let memory = TwoNodes(other: [CompressedCrossNodeSum.bfloat(2)])
        var applied: Double = 0
        for _ in 0..<256 {
            var shard: [Float] = [g]
            shard.withUnsafeMutableBufferPointer { sum.sum($0.baseAddress!, memory: memory) }
            // The other node sent exactly 2; this node's message is bf16(g + e).
            #expect(shard[0] - 2 == 1 || shard[0] - 2 == Float(bitPattern: 0x3F81_0000))
            applied += Double(shard[0] - 2)
        }
        // Without feedback every message would be 1 (g rounded down); with it the mean is g to the bf16 step / 256.
        #expect(abs(applied / 256 - Double(g)) < 0x1p-7 / 256 + 1e-9, "\(applied / 256)")
        #expect(abs(sum.residual[0]) <= 0x1p-8)
    }
}
