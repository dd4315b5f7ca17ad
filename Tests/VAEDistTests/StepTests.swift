import CAllocationCounter
import Foundation
import Testing
@testable import VAETraining
import VAEModel

@Suite struct StepTests {
    /// The default model at batch 128 with one BLAS thread, as `vae-dist bench` measures it. (OpenBLAS 0.3.21
    /// allocates inside sgemm in its threaded path and in its small-matrix kernels, so a tiny model or several
    /// BLAS threads would count OpenBLAS's allocations, not ours.)
    @Test func aTrainingStepAllocatesNothing() throws {
        #expect(vae_allocation_counting_active() == 1, "this test bundle links the counting allocator")
        var config = TrainingConfiguration()
        config.dataSource = "synthetic"
        config.runDirectory = Fixtures.temporaryFolder()
        config.binarization = .dynamic
        config.blasThreads = 1
        let trainer = try Fixtures.trainer(config)
        let order = epochPermutation(count: Fixtures.smallData.train.count, seed: 1, epoch: 0)
        order.withUnsafeBufferPointer { all in
            _ = trainer.step(indices: UnsafeBufferPointer(rebasing: all[0..<128]), epoch: 0)  // warm-up
            let before = vae_thread_allocation_count()
            for s in 1..<6 { _ = trainer.step(indices: UnsafeBufferPointer(rebasing: all[(s % 2 * 128)..<(s % 2 * 128 + 128)]), epoch: s) }
            let after = vae_thread_allocation_count()
            #expect(after == before, "\(after - before) heap allocations in 5 steps")
        }
        // The counter does count: an array allocates.
        let before = vae_thread_allocation_count()
        let probe = [Int](repeating: 1, count: Int.random(in: 100...200))
        #expect(vae_thread_allocation_count() > before && probe.count >= 100)
    }
}
