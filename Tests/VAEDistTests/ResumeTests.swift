import Foundation
import Testing
@testable import VAETraining
import VAEModel

/// Interrupted-and-resumed equals uninterrupted, bit for bit: parameters, Adam state and every logged loss.
/// The small configuration has 10 steps per epoch (300 samples, batch 32, the last batch partial) and 3 epochs.
@Suite struct ResumeTests {
    struct State: Equatable {
        var parameters: [UInt8], firstMoment: [UInt8], secondMoment: [UInt8], adamStep: Int
        var position: TrainingPosition
        var metrics: [String]
    }

    func state(_ trainer: Trainer) -> State {
        State(
            parameters: trainer.model.parameters.bytes, firstMoment: trainer.optimizer.firstMoment.bytes,
            secondMoment: trainer.optimizer.secondMoment.bytes, adamStep: trainer.optimizer.step,
            position: trainer.position, metrics: Fixtures.deterministicMetrics(in: trainer.configuration.runDirectory))
    }

    /// The uninterrupted reference run.
    func uninterrupted() throws -> State {
        let trainer = try Fixtures.trainer(Fixtures.smallConfiguration(runDirectory: Fixtures.temporaryFolder()))
        let summary = try trainer.run()
        #expect(summary.position.globalStep == 30 && summary.epochs.count == 3)
        return state(trainer)
    }

    /// Runs to `stopStep`, then resumes from `latest` in a new trainer to the end.
    func interrupted(at stopStep: Int, checkpointEvery: Int = 0) throws -> State {
        var config = Fixtures.smallConfiguration(runDirectory: Fixtures.temporaryFolder())
        config.checkpointEvery = checkpointEvery
        var first = config
        first.maxSteps = stopStep
        let stopped = try Fixtures.trainer(first).run()
        #expect(stopped.position.globalStep == stopStep)
        let resumed = try Fixtures.trainer(config)
        _ = try resumed.run(resume: .latest)
        return state(resumed)
    }

    @Test func resumeAtEpochBoundaryIsBitExact() throws {
        let reference = try uninterrupted()
        #expect(reference.metrics.count == 3 * 4 + 3, "3 epochs × 4 progress lines (steps 3, 6, 9, 10) + 3 epoch records")
        #expect(try interrupted(at: 10) == reference)
    }

    @Test func resumeMidEpochIsBitExact() throws {
        let reference = try uninterrupted()
        #expect(try interrupted(at: 14) == reference)
        #expect(try interrupted(at: 29, checkpointEvery: 4) == reference)
    }

    @Test func resumeFromAnOlderCheckpointReplaysLaterStepsOnce() throws {
        // Run to step 14 with checkpoints every 4 steps, then resume from step 12's file: metrics logged after
        // step 12 are dropped and logged again, so the log ends up as the uninterrupted run's.
        let reference = try uninterrupted()
        var config = Fixtures.smallConfiguration(runDirectory: Fixtures.temporaryFolder())
        config.checkpointEvery = 4
        config.keepCheckpoints = 5
        var first = config
        first.maxSteps = 14
        _ = try Fixtures.trainer(first).run()
        let resumed = try Fixtures.trainer(config)
        _ = try resumed.run(resume: .path(config.runDirectory + "/" + CheckpointStore.fileName(step: 12)))
        #expect(state(resumed) == reference)
    }

    @Test func negativeControlResumeWithoutItsRandomStreamPositionDiffers() throws {
        // Restoring parameters and Adam state but not the epoch (so the data order and ε streams restart at
        // epoch 0, as a resume that loses RNG state does) must give different bits: the test above can fail.
        let reference = try uninterrupted()
        var config = Fixtures.smallConfiguration(runDirectory: Fixtures.temporaryFolder())
        var first = config
        first.maxSteps = 14
        _ = try Fixtures.trainer(first).run()
        let checkpoint = try #require(try CheckpointStore(directory: config.runDirectory, keep: 3).latest())
        config.maxSteps = nil
        config.runDirectory = Fixtures.temporaryFolder("broken")  // a fresh run: its own folder
        let resumed = try Fixtures.trainer(config)
        _ = try resumed.restore(from: .path(checkpoint))
        resumed.position.epoch = 0
        resumed.position.globalStep -= 10
        _ = try resumed.run()
        let broken = state(resumed)
        #expect(broken.parameters != reference.parameters)
        #expect(broken.metrics != reference.metrics)
    }

    @Test func resumeRefusesAnotherConfigurationOrData() throws {
        var config = Fixtures.smallConfiguration(runDirectory: Fixtures.temporaryFolder())
        config.maxSteps = 5
        _ = try Fixtures.trainer(config).run()
        var changed = config
        changed.adam.learningRate = 0.01
        changed.seed = 9
        #expect {
            try Fixtures.trainer(changed).run(resume: .latest)
        } throws: { error in
            "\(error)".contains(
                "training.learning_rate: checkpoint 0.001, requested 0.01; training.seed: checkpoint 1, requested 9")
                && "\(error)".contains("--fine-tune")
        }
        var otherArchitecture = config
        otherArchitecture.architecture.encoderHidden = [16]
        #expect {
            try Fixtures.trainer(otherArchitecture).run(resume: .latest)
        } throws: { error in
            "\(error)".contains("fc1.weight has shape [32, 784] but the model needs [16, 784]")
        }
        let otherData = try Trainer(
            configuration: config, data: DataSplits.synthetic(trainCount: 200, testCount: 10), logger: Fixtures.quietLogger)
        #expect {
            try otherData.run(resume: .latest)
        } throws: { error in
            "\(error)".contains("pass the same --data")
        }
        var empty = config
        empty.runDirectory = Fixtures.temporaryFolder()
        #expect {
            try Fixtures.trainer(empty).run(resume: .latest)
        } throws: { error in
            "\(error)".contains("no 'latest' checkpoint")
        }
    }

    @Test func evalOfACheckpointReproducesTheLoggedTestLoss() throws {
        var config = Fixtures.smallConfiguration(runDirectory: Fixtures.temporaryFolder())
        config.epochs = 1
        let trainer = try Fixtures.trainer(config)
        let summary = try trainer.run()
        let logged = try #require(summary.epochs[0].test)
        let result = try Evaluation.evaluate(checkpoint: summary.lastCheckpoint!, data: Fixtures.smallData)
        #expect(result.loss == logged.loss / Double(logged.samples))
        #expect(result.samples == 100 && result.globalStep == 10)
        #expect(result.loss < 600, "one epoch on the synthetic set lowers the loss from ≈ 543 nats")
    }

    @Test func trainingLowersTheLoss() throws {
        var config = Fixtures.smallConfiguration(runDirectory: Fixtures.temporaryFolder())
        config.epochs = 4
        let summary = try Fixtures.trainer(config).run()
        let losses = summary.epochs.map { $0.test!.loss / Double($0.test!.samples) }
        #expect(losses.last! < 0.8 * losses.first!, "test loss per epoch: \(losses)")
    }
}
