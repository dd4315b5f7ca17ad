import CAllocationCounter
import Foundation
import Testing
import VAEDistributed
import VAETestSupport
@testable import VAETraining
import VAEModel

@Suite struct StepTests {
    /// The default model at batch 128 with one BLAS thread, as `vae-dist bench` measures it. (OpenBLAS 0.3.21
    /// allocates inside sgemm in its threaded path and in its small-matrix kernels, so a tiny model or several
    /// BLAS threads would count OpenBLAS's allocations, not ours.)
    /// Every gradient exchange (node-shared in one process: its memory is a heap block, the same code path).
    @Test(arguments: ExchangeStrategy.allCases)
    func aTrainingStepAllocatesNothing(exchange: ExchangeStrategy) throws {
        #expect(vae_allocation_counting_active() == 1, "this test bundle links the counting allocator")
        var config = TrainingConfiguration()
        config.gradientExchange = exchange
        config.dataSource = "synthetic"
        config.runDirectory = Fixtures.temporaryFolder()
        config.binarization = .dynamic
        config.blasThreads = 1
        let trainer = try Fixtures.trainer(config)
        #expect((trainer.exchange is NodeSharedExchange) == (exchange == .nodeShared))
        let order = epochPermutation(count: Fixtures.smallData.train.count, seed: 1, epoch: 0)
        order.withUnsafeBufferPointer { all in
            _ = trainer.step(indices: UnsafeBufferPointer(rebasing: all[0..<128]), epoch: 0)  // warm-up
            let before = vae_thread_allocation_count()
            for s in 1..<6 {
                _ = trainer.step(indices: UnsafeBufferPointer(rebasing: all[(s % 2 * 128)..<(s % 2 * 128 + 128)]), epoch: s)
            }
            let after = vae_thread_allocation_count()
            #expect(after == before, "\(after - before) heap allocations in 5 steps")
        }
        // The counter does count: an array allocates.
        let before = vae_thread_allocation_count()
        let probe = [Int](repeating: 1, count: Int.random(in: 100...200))
        #expect(vae_thread_allocation_count() > before && probe.count >= 100)
    }

    /// One process through the node-shared exchange takes bit-identical steps to the plain path: the sum over one
    /// rank is the identity and its shard is the whole buffer, so parameters and moments live in the exchange's
    /// memory but get the same arithmetic. (One BLAS thread: with two, OpenBLAS's sgemm gave last-bit differences
    /// here between operands at different addresses.)
    @Test func nodeSharedExchangeInOneProcessMatchesThePlainPathBitForBit() throws {
        var config = TrainingConfiguration()
        config.architecture = Architecture(encoderHidden: [48], latentSize: 5, decoderHidden: [48])
        config.dataSource = "synthetic"
        config.batchSize = 32
        config.blasThreads = 1
        config.runDirectory = Fixtures.temporaryFolder()
        let plain = try Fixtures.trainer(config)
        config.gradientExchange = .nodeShared
        let shared = try Fixtures.trainer(config)
        let exchange = try #require(shared.exchange as? NodeSharedExchange)
        #expect(exchange.shard == 0..<plain.model.layout.count)
        #expect(
            shared.model.parameters.pointer == exchange.parameters.pointer
                && shared.optimizer.firstMoment.pointer == exchange.firstMoment.pointer)
        #expect(shared.model.parameters.bytes == plain.model.parameters.bytes, "initial parameters differ")
        let order = epochPermutation(count: Fixtures.smallData.train.count, seed: 1, epoch: 0)
        order.withUnsafeBufferPointer { all in
            for s in 0..<4 {
                let batch = UnsafeBufferPointer(rebasing: all[(s * 32)..<(s * 32 + 32)])
                #expect(plain.step(indices: batch, epoch: 0) == shared.step(indices: batch, epoch: 0))
            }
        }
        #expect(shared.model.parameters.bytes == plain.model.parameters.bytes)
        #expect(shared.optimizer.secondMoment.bytes == plain.optimizer.secondMoment.bytes)
        #expect(shared.optimizer.step == 4)
    }

    /// Asking for node-shared memory with a deprecated key that needs the all-reduce path is an error that says
    /// what to do (before any work: the configuration is refused).
    @Test(arguments: ["exact", "sharded", "overlap"])
    func nodeSharedWithAnAllReduceOptionIsAnError(option: String) throws {
        let legacy: String
        switch option {
        case "exact": legacy = #""reduction": "exact""#
        case "sharded": legacy = #""sharded_optimizer": true"#
        default: legacy = #""overlap_allreduce": true"#
        }
        do {
            _ = try TrainingConfiguration.parse(Data(#"{"training": {"gradient_exchange": "node-shared", \#(legacy)}}"#.utf8))
            Issue.record("node-shared with \(option) was accepted")
        } catch let error as ExchangeError {
            #expect(
                "\(error)".hasPrefix("gradient_exchange node-shared: ")
                    && "\(error)".contains("use --gradient-exchange allreduce"), "\(error)")
        }
        var config = try TrainingConfiguration.parse(Data(#"{"training": {"gradient_exchange": "auto", \#(legacy)}}"#.utf8))
        config.runDirectory = Fixtures.temporaryFolder()
        config.architecture = Architecture(encoderHidden: [32], latentSize: 4, decoderHidden: [32])
        config.batchSize = 32
        config.dataSource = "synthetic"
        #expect(
            !(try Fixtures.trainer(config).exchange is NodeSharedExchange),
            "auto falls back to the all-reduce path with \(option)")
    }

    /// A node whose shared-memory folder is nearly full: node-shared is refused before anything is allocated (a
    /// full tmpfs would end the job with SIGBUS later), with the sizes and what to do.
    @Test func nodeSharedWithoutRoomInSharedMemoryIsAnError() throws {
        var config = Fixtures.smallConfiguration(runDirectory: Fixtures.temporaryFolder())
        config.gradientExchange = .nodeShared
        let needed = NodeSharedExchange.bytesPerNode(parameterCount: ParameterLayout(config.architecture).count, localSize: 1)
        #expect(
            try Trainer(
                configuration: config, data: Fixtures.smallData, communicator: TightSharedMemory(free: needed),
                logger: Fixtures.quietLogger
            ).exchange is NodeSharedExchange, "exactly enough room is enough")
        do {
            _ = try Trainer(
                configuration: config, data: Fixtures.smallData, communicator: TightSharedMemory(free: needed - 1),
                logger: Fixtures.quietLogger)
            Issue.record("node-shared without room was accepted")
        } catch let error as ExchangeError {
            let text = "\(error)"
            #expect(
                text.contains("of shared memory per node in /dev/shm") && text.contains("rank 0 has less free")
                    && text.contains("--shm-size") && text.contains("use --gradient-exchange allreduce"), "\(text)")
        }
    }
}
