import Foundation
import Testing
@testable import VAETraining
import VAEDistributed

/// `reduction: exact` makes training a pure function of (config, seed, data): the same bits at 1, 2 and 4 ranks,
/// and across a resume at another rank count. Runs the `vae-dist` CLI (one BLAS thread per rank everywhere).
@Suite(.serialized) struct ExactReductionTests {
    static let config: String = {
        let path = Fixtures.temporaryFolder("exact", created: false) + ".json"
        try!
            #"{"model": {"encoder_hidden": [32], "latent_size": 4, "decoder_hidden": [32]}, "training": {"batch_size": 32, "micro_batches": 4}, "run": {"log_every": 1}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }()

    /// Trains to `steps` at `ranks` (nil: single process without mpirun) into `folder`; returns the final checkpoint's
    /// data SHA-256 (parameters and Adam moments) and the logged losses.
    static func train(
        ranks: Int?, reduction: String, steps: Int, folder: String, resume: Bool = false, extra: [String] = []
    ) throws -> (String, [String]) {
        let args =
            [
                "--config", config, "--data", "synthetic", "--max-steps", "\(steps)", "--blas-threads", "1",
                "--reduction", reduction, "--run-dir", folder,
            ] + (resume ? ["--resume", "latest"] : []) + extra
        let cli = MPITests.binary("vae-dist")
        if let ranks {
            let (status, output, _) = try MPITests.mpirun(["-n", "\(ranks)", "--", cli] + args)
            #expect(status == 0, "\(output)")
        } else {
            let (status, _, err) = try TestProcess.run(cli, args)
            #expect(status == 0, "\(err)")
        }
        return (
            try Fixtures.stateHash(folder + "/" + CheckpointStore.fileName(step: steps)),
            Fixtures.deterministicMetrics(in: folder)
        )
    }

    @Test func sameBitsAtOneTwoAndFourRanksAndAcrossAnElasticResume() throws {
        let single = try ExactReductionTests.train(
            ranks: nil, reduction: "exact", steps: 6, folder: Fixtures.temporaryFolder("1", created: false))
        #expect(single.1.count == 6 && !single.0.isEmpty)
        for ranks in [1, 2, 4] {
            let run = try ExactReductionTests.train(
                ranks: ranks, reduction: "exact", steps: 6, folder: Fixtures.temporaryFolder("\(ranks)", created: false))
            #expect(run.0 == single.0, "-n \(ranks): parameters and Adam state differ from the single process")
            #expect(run.1 == single.1, "-n \(ranks): logged losses differ")
        }
        // Elastic: 2 steps at -n 4, resume at -n 2 to step 4, resume single-process to step 6.
        let elastic = Fixtures.temporaryFolder("elastic", created: false)
        _ = try ExactReductionTests.train(ranks: 4, reduction: "exact", steps: 2, folder: elastic)
        _ = try ExactReductionTests.train(ranks: 2, reduction: "exact", steps: 4, folder: elastic, resume: true)
        let resumed = try ExactReductionTests.train(ranks: nil, reduction: "exact", steps: 6, folder: elastic, resume: true)
        #expect(resumed.0 == single.0, "4 → 2 → 1 ranks: state differs from the uninterrupted run")
        #expect(resumed.1 == single.1, "4 → 2 → 1 ranks: logged losses differ")
    }

    /// The IWAE (K draws per sample keyed by (seed, epoch, sample, k)) with the VampPrior (its pseudo-inputs encoded in
    /// every micro-batch): the same bits at 1 and 4 ranks.
    @Test func iwaeWithAVampPriorHasTheSameBitsAtOneAndFourRanks() throws {
        let extra = ["--objective", "iwae", "--samples", "3", "--prior", "vamp", "--set", "model.pseudo_inputs=5"]
        let single = try ExactReductionTests.train(
            ranks: nil, reduction: "exact", steps: 4, folder: Fixtures.temporaryFolder("iwae1", created: false), extra: extra)
        let four = try ExactReductionTests.train(
            ranks: 4, reduction: "exact", steps: 4, folder: Fixtures.temporaryFolder("iwae4", created: false), extra: extra)
        let elbo = try ExactReductionTests.train(
            ranks: nil, reduction: "exact", steps: 4, folder: Fixtures.temporaryFolder("elbo1", created: false))
        #expect(!single.0.isEmpty && four.0 == single.0, "-n 4: parameters and Adam state differ from the single process")
        #expect(four.1 == single.1, "-n 4: logged losses differ")
        #expect(single.0 != elbo.0, "the IWAE with a VampPrior trained the same bits as the ELBO")
    }

    @Test func negativeControlFastReductionDiffersAcrossRankCounts() throws {
        let one = try ExactReductionTests.train(
            ranks: nil, reduction: "fast", steps: 6, folder: Fixtures.temporaryFolder("fast1", created: false))
        let four = try ExactReductionTests.train(
            ranks: 4, reduction: "fast", steps: 6, folder: Fixtures.temporaryFolder("fast4", created: false))
        #expect(one.0 != four.0, "the float all-reduce gave the same bits at 1 and 4 ranks; the exact test would not be needed")
    }
}
