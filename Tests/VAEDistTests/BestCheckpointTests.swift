import Foundation
import Testing
import VAEModel
@testable import VAETraining

/// The `best` pointer and early stopping, both driven by the validation loss.
@Suite struct BestCheckpointTests {
    static let data = try! Fixtures.smallData.holdingOut(fraction: 0.2, seed: 1)  // 240 train, 60 validation

    static func configuration(
        _ folder: String, epochs: Int, learningRate: Float = 1e-3, patience: Int = 0
    ) -> TrainingConfiguration {
        var config = Fixtures.smallConfiguration(runDirectory: folder)
        config.validationFraction = 0.2
        config.epochs = epochs
        config.keepCheckpoints = 1
        config.adam.learningRate = learningRate
        config.settings[EarlyStopping.patience] = patience
        return config
    }

    static func validationLosses(_ folder: String) throws -> [Double] {
        try String(contentsOfFile: folder + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["validation_loss"] as? Double
        }
    }

    /// `best` names the epoch-end checkpoint of the lowest validation loss, survives rotation (keep 1), and a run
    /// resumed part-way tracks the same best.
    @Test func bestPointsAtTheLowestValidationLossAndSurvivesRotation() throws {
        let folder = Fixtures.temporaryFolder()
        let config = BestCheckpointTests.configuration(folder, epochs: 6, learningRate: 0.02)
        let summary = try Trainer(configuration: config, data: BestCheckpointTests.data, logger: Fixtures.quietLogger).run()
        let losses = try BestCheckpointTests.validationLosses(folder)
        #expect(losses.count == 6)
        let bestEpoch = losses.indices.min { losses[$0] < losses[$1] }! + 1
        let store = CheckpointStore(directory: folder, keep: 1)
        let best = try #require(try store.best())
        #expect(best.hasSuffix(CheckpointStore.fileName(step: bestEpoch * 8)), "best \(best), losses \(losses)")
        #expect(FileManager.default.fileExists(atPath: best), "rotation deleted the best checkpoint")
        // (metrics.jsonl's decimal, read back, may differ from the double in its last digit)
        #expect(
            summary.position.bestEpoch == bestEpoch
                && abs(summary.position.bestValidationLoss! - losses[bestEpoch - 1]) < 1e-9 * losses[bestEpoch - 1])
        // Resumed at epoch 3: the same best.
        let split = Fixtures.temporaryFolder("split")
        _ = try Trainer(
            configuration: BestCheckpointTests.configuration(split, epochs: 3, learningRate: 0.02),
            data: BestCheckpointTests.data, logger: Fixtures.quietLogger
        ).run()
        let resumed = try Trainer(
            configuration: BestCheckpointTests.configuration(split, epochs: 6, learningRate: 0.02),
            data: BestCheckpointTests.data, logger: Fixtures.quietLogger
        ).run(resume: .latest)
        #expect(resumed.position == summary.position)
        #expect(
            try CheckpointStore(directory: split, keep: 1).best().map { ($0 as NSString).lastPathComponent }
                == (best as NSString).lastPathComponent)
    }

    /// Training stops at the first epoch whose validation loss has not improved on the best for `patience` epochs.
    @Test func earlyStoppingStopsAtTheRightEpoch() throws {
        let folder = Fixtures.temporaryFolder()
        let config = BestCheckpointTests.configuration(folder, epochs: 40, learningRate: 0.02, patience: 2)
        let summary = try Trainer(configuration: config, data: BestCheckpointTests.data, logger: Fixtures.quietLogger).run()
        let losses = try BestCheckpointTests.validationLosses(folder)
        var best = Double.infinity, bestEpoch = 0, expected = 40
        for (index, loss) in losses.enumerated() {
            if loss < best { (best, bestEpoch) = (loss, index + 1) }
            if index + 1 - bestEpoch >= 2 { expected = index + 1; break }
        }
        #expect(expected < 40, "the run must give early stopping something to do: \(losses)")
        #expect(
            summary.epochs.count == expected && losses.count == expected,
            "stopped after \(summary.epochs.count), expected \(expected): \(losses)")
    }

    @Test func earlyStoppingNeedsAValidationSet() {
        var config = Fixtures.smallConfiguration(runDirectory: Fixtures.temporaryFolder())
        config.settings[EarlyStopping.patience] = 2
        #expect { try Fixtures.trainer(config) } throws: { "\($0)".contains("validation") }
    }
}
