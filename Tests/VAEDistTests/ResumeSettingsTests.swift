import Foundation
import Testing
@testable import VAETraining
import VAEBuildInfo

/// `--resume` adopts the checkpoint's settings; a change of the trajectory is refused with both values unless
/// `--fine-tune`, which continues with the new values and records them; the resolved settings round-trip.
@Suite struct ResumeSettingsTests {
    /// A small synthetic run's flags (not the defaults anywhere it matters).
    static let settings = [
        "--data", "synthetic", "--batch-size", "50", "--learning-rate", "0.002", "--seed", "4", "--blas-threads", "1",
        "--set", "model.encoder_hidden=[16]", "--set", "model.latent_size=3", "--set", "model.decoder_hidden=[16]",
        "--set", "training.kl_schedule=linear", "--set", "training.kl_warmup_steps=7", "--log-every", "1",
    ]

    static func records(_ folder: String) throws -> [[String: Any]] {
        try String(contentsOfFile: folder + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }

    @Test func resumeWithNoSettingsAdoptsTheCheckpointsAndContinuesExactly() throws {
        let reference = Fixtures.temporaryFolder("reference"), resumed = Fixtures.temporaryFolder("resumed")
        let (status, _, err) = try CLITests.run(["train", "--run-dir", reference, "--max-steps", "8"] + Self.settings)
        #expect(status == 0, "\(err)")
        let (first, _, firstErr) = try CLITests.run(["train", "--run-dir", resumed, "--max-steps", "4"] + Self.settings)
        #expect(first == 0, "\(firstErr)")
        // Nothing but the length: batch, learning rate, seed, model and KL schedule come from the checkpoint.
        let (second, _, secondErr) = try CLITests.run([
            "train", "--resume", resumed + "/checkpoint-step-000000004.safetensors", "--max-steps", "8",
        ])
        #expect(second == 0, "\(secondErr)")
        let name = "/checkpoint-step-000000008.safetensors"
        #expect(try Fixtures.stateHash(resumed + name) == Fixtures.stateHash(reference + name))
    }

    @Test func aChangeIsRefusedWithBothValuesAndFineTuneContinuesWithIt() throws {
        let folder = Fixtures.temporaryFolder()
        let (status, _, err) = try CLITests.run(["train", "--run-dir", folder, "--max-steps", "4"] + Self.settings)
        #expect(status == 0, "\(err)")
        let (refused, _, refusal) = try CLITests.run([
            "train", "--run-dir", folder, "--resume", "latest", "--max-steps", "6", "--learning-rate", "0.0005",
        ])
        #expect(refused == 1, "\(refusal)")
        #expect(
            refusal.contains("training.learning_rate: checkpoint 0.002, requested 0.0005") && refusal.contains("--fine-tune"),
            "\(refusal)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/checkpoint-step-000000006.safetensors"))

        let (tuned, out, tuneErr) = try CLITests.run([
            "train", "--run-dir", folder, "--resume", "latest", "--max-steps", "6", "--learning-rate", "0.0005", "--fine-tune",
        ])
        #expect(tuned == 0, "\(tuneErr)")
        #expect(
            out.contains("fine-tuning from step 4 with new settings: training.learning_rate: checkpoint 0.002, requested 0.0005"),
            "\(out)")
        var records = try Self.records(folder)
        let change = try #require(records.first { $0["type"] as? String == "fine_tune" })
        #expect((change["global_step"] as? Int) == 4)
        let lr = (change["changes"] as? [String: [String: String]])?["training.learning_rate"]
        #expect(lr == ["checkpoint": "0.002", "now": "0.0005"], "\(change)")
        func rate(_ step: Int) -> Float? {
            records.first { $0["type"] as? String == "step" && $0["global_step"] as? Int == step }
                .flatMap { ($0["learning_rate"] as? NSNumber)?.floatValue }
        }
        #expect(rate(4) == 0.002 && rate(5) == 0.0005)
        // The fine-tuned checkpoint holds the new value: a plain resume keeps it.
        let (again, _, againErr) = try CLITests.run(["train", "--run-dir", folder, "--resume", "latest", "--max-steps", "7"])
        #expect(again == 0, "\(againErr)")
        records = try Self.records(folder)
        #expect(rate(7) == 0.0005)
    }

    @Test func fineTuneCannotChangeTheBatchInsideAnEpoch() throws {
        let folder = Fixtures.temporaryFolder()
        let (status, _, err) = try CLITests.run(["train", "--run-dir", folder, "--max-steps", "3"] + Self.settings)
        #expect(status == 0, "\(err)")
        let (refused, _, refusal) = try CLITests.run([
            "train", "--run-dir", folder, "--resume", "latest", "--max-steps", "6", "--batch-size", "25", "--fine-tune",
        ])
        #expect(refused == 1 && refusal.contains("inside an epoch"), "\(refusal)")
    }

    @Test func theResolvedSettingsReadBackAsTheSameSettingsAndNameEveryKey() throws {
        var c = TrainingConfiguration()
        try c.override([
            ("model.encoder_hidden", [64, 32]), ("model.latent_size", 5), ("model.likelihood", "gaussian"),
            ("model.gaussian_variance", 0.25), ("model.activation", "tanh"), ("training.epochs", 7),
            ("training.max_steps", 99), ("training.learning_rate", Float(3e-4)), ("training.kl_weight", 0.7),
            ("training.lr_schedule", "cosine"), ("training.lr_decay_steps", 500), ("training.clip_grad_norm", 1.5),
            ("training.kl_schedule", "cyclical"), ("training.gradient_exchange", "exact"), ("data.source", "a \"quoted\" path"),
            ("data.validation_fraction", 0.1), ("run.run_dir", "runs/x"), ("run.collective_timeout", 12.5),
            ("model.prior", "vamp"), ("model.pseudo_inputs", 7), ("training.objective", "iwae"), ("training.samples", 3),
        ])
        let back = try TrainingConfiguration.parse(Data(c.resolvedJSON.utf8))
        #expect(back.resolvedJSON == c.resolvedJSON)
        #expect(back.trajectoryJSON == c.trajectoryJSON)
        #expect(back.architecture == c.architecture && back.dataSource == c.dataSource && back.maxSteps == 99)
        // Every key but the deprecated ones is written out (a new key that is not fails here); the MLP shorthand
        // and the layer lists each write their own keys.
        let layerKeys: Set = ["model.input_shape", "model.encoder", "model.decoder"]
        let written = Set(c.resolvedValues.map(\.key))
        let all = Set(TrainingConfiguration.keys.map(\.name)).subtracting(TrainingConfiguration.deprecatedKeys)
        #expect(written == all.subtracting(layerKeys), "missing: \(all.subtracting(layerKeys).subtracting(written).sorted())")
        let layered = try TrainingConfiguration.load(path: "Config/mnist-conv.json")
        let layeredKeys = Set(layered.resolvedValues.map(\.key))
        #expect(layeredKeys.isSuperset(of: layerKeys) && !layeredKeys.contains("model.input_size"))
    }

    @Test func adoptingTakesOnlyTheGivenKeysAndTheLengthAsAWhole() throws {
        var stored = TrainingConfiguration()
        try stored.override([("training.batch_size", 64), ("training.seed", 3), ("training.max_steps", 50)])
        var requested = TrainingConfiguration()
        try requested.override([("training.epochs", 20)])
        let adopted = try stored.adopting(requested)
        #expect(adopted.batchSize == 64 && adopted.seed == 3)
        #expect(adopted.epochs == 20 && adopted.maxSteps == nil, "--epochs alone is not cut short by the stored max_steps")
        #expect(adopted.trajectoryChanges(from: stored.trajectoryJSON).isEmpty)
        try requested.override([("training.learning_rate", Float(0.01))])
        let changes = try stored.adopting(requested).trajectoryChanges(from: stored.trajectoryJSON)
        #expect(changes == [.init(key: "training.learning_rate", stored: "0.001", requested: "0.01")])
    }
}
