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
