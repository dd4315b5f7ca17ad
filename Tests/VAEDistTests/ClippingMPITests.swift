import Foundation
import Testing
@testable import VAEDistributed
import VAEModel
@testable import VAETraining

/// Clipping under mpirun: every strategy computes the same norm (the sharded ones from their shards), and the exact
/// exchange clips to the same bits at 1 and 4 ranks.
@Suite(.serialized) struct ClippingMPITests {
    @Test func exactClippingIsTheSameBitsAtOneAndFourRanks() throws {
        let one = try ClippingTests.train(
            ranks: nil, exchange: "exact", clip: 50, folder: Fixtures.temporaryFolder("clip1", created: false))
        let four = try ClippingTests.train(
            ranks: 4, exchange: "exact", clip: 50, folder: Fixtures.temporaryFolder("clip4", created: false))
        #expect(one.1.count == 4 && one.1[0] > 50, "clipping must be active: norms \(one.1)")
        #expect(four.0 == one.0 && four.1 == one.1, "exact + clipping: -n 4 differs from one process")
        let unclipped = try ClippingTests.train(
            ranks: nil, exchange: "exact", clip: 0, folder: Fixtures.temporaryFolder("clip0", created: false))
        #expect(unclipped.0 != one.0 && unclipped.1.isEmpty)
    }

    @Test func everyStrategyComputesTheSameNorm() throws {
        let reference = try ClippingTests.train(
            ranks: nil, exchange: "allreduce", clip: 50, folder: Fixtures.temporaryFolder("clipref", created: false))
        for exchange in ["allreduce", "allreduce-overlapped", "sharded-adam", "node-shared"] {
            let run = try ClippingTests.train(
                ranks: 2, exchange: exchange, clip: 50, folder: Fixtures.temporaryFolder("clip-\(exchange)", created: false))
            #expect(run.1.count == 4, "\(exchange): \(run.1)")
            for (a, b) in zip(run.1, reference.1) {
                #expect(abs(a - b) <= 1e-4 * b, "\(exchange): norms \(run.1) vs \(reference.1)")
            }
        }
    }
}
