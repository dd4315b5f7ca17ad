import Foundation
import Testing
import VAEModel
import VAESettings
@testable import VAETraining

/// Learning-rate and KL-weight schedules: pure functions of the global step.
@Suite struct ScheduleTests {
    /// The schedule a `training` section's JSON gives, read through the schedules' own setting declarations.
    static func schedules(_ training: String) throws -> (rate: LearningRateSchedule, weight: KLSchedule) {
        let config = try TrainingConfiguration.parse(Data(#"{"training": {\#(training)}}"#.utf8))
        return (config.learningRateSchedule, config.klSchedule)
    }

    @Test func learningRateSchedulesMatchHandComputedValues() throws {
        let base: Float = 1e-3
        let step = try Self.schedules(#""lr_schedule": "step", "lr_step_every": 100, "lr_step_factor": 0.5"#).rate
        #expect(step.rate(at: 1, base: base, horizon: 0) == base && step.rate(at: 100, base: base, horizon: 0) == base)
        #expect(
            step.rate(at: 101, base: base, horizon: 0) == Float(5e-4)
                && step.rate(at: 201, base: base, horizon: 0) == Float(2.5e-4))
        let cosine = try Self.schedules(
            #""lr_schedule": "cosine", "lr_warmup_steps": 10, "lr_decay_steps": 110, "lr_min_factor": 0.1"#
        ).rate
        expectClose(cosine.rate(at: 5, base: base, horizon: 0), 0.5e-3, relative: 0, absolute: 1e-9)
        expectClose(cosine.rate(at: 10, base: base, horizon: 0), 1e-3, relative: 0, absolute: 1e-9)
        expectClose(cosine.rate(at: 60, base: base, horizon: 0), 0.55e-3, relative: 0, absolute: 1e-9)  // halfway: 0.1 + 0.9 · ½
        expectClose(cosine.rate(at: 110, base: base, horizon: 0), 0.1e-3, relative: 0, absolute: 1e-9)
        expectClose(cosine.rate(at: 500, base: base, horizon: 0), 0.1e-3, relative: 0, absolute: 1e-9)
        // Without decay steps the horizon (epochs × steps per epoch) is the decay's end.
        let run = try Self.schedules(#""lr_schedule": "cosine""#).rate
        expectClose(run.rate(at: 50, base: base, horizon: 100), 0.5e-3, relative: 0, absolute: 1e-9)
        expectClose(run.rate(at: 100, base: base, horizon: 100), 0, relative: 0, absolute: 1e-9)
        #expect(try Self.schedules("").rate.rate(at: 12345, base: base, horizon: 1) == base)
    }

    @Test func klSchedulesMatchHandComputedValues() throws {
        let linear = try Self.schedules(#""kl_schedule": "linear", "kl_warmup_steps": 100"#).weight
        #expect(
            linear.weight(at: 50, base: 1) == 0.5 && linear.weight(at: 100, base: 1) == 1 && linear.weight(at: 150, base: 1) == 1)
        #expect(linear.weight(at: 25, base: 2) == 0.5)
        // Fu et al.: rise over half a cycle, hold.
        let cyclical = try Self.schedules(#""kl_schedule": "cyclical", "kl_cycle_steps": 100, "kl_cycle_ratio": 0.5"#).weight
        #expect(
            cyclical.weight(at: 25, base: 1) == 0.5 && cyclical.weight(at: 50, base: 1) == 1
                && cyclical.weight(at: 75, base: 1) == 1)
        #expect(
            cyclical.weight(at: 100, base: 1) == 1 && cyclical.weight(at: 101, base: 1) == 0.02
                && cyclical.weight(at: 125, base: 1) == 0.5)
        #expect(try Self.schedules("").weight.weight(at: 7, base: 0.25) == 0.25)
    }

    static func scheduled(_ folder: String, maxSteps: Int) -> TrainingConfiguration {
        var config = Fixtures.smallConfiguration(runDirectory: folder)
        config.lrSchedule = "cosine"
        config.settings[CosineDecay.warmupSteps] = 5
        config.settings[CosineDecay.decaySteps] = 25
        config.klScheduleName = "linear"
        config.settings[LinearWarmUp.warmupSteps] = 20
        config.maxSteps = maxSteps
        return config
    }

    /// A resume in the middle of the learning-rate warm-up and the KL warm-up (step 3) and in the middle of the
    /// cosine (step 14) continues bit for bit; the schedules change the run (a constant one differs); the logged
    /// rate and β are the schedules'.
    @Test func resumeInsideTheSchedulesIsBitExact() throws {
        let straight = Fixtures.temporaryFolder("straight")
        _ = try Fixtures.trainer(ScheduleTests.scheduled(straight, maxSteps: 20)).run()
        let split = Fixtures.temporaryFolder("split")
        for stop in [3, 14, 20] {
            _ = try Fixtures.trainer(ScheduleTests.scheduled(split, maxSteps: stop)).run(resume: stop == 3 ? nil : .latest)
        }
        let name = "/" + CheckpointStore.fileName(step: 20)
        #expect(try Fixtures.stateHash(straight + name) == Fixtures.stateHash(split + name))
        #expect(Fixtures.deterministicMetrics(in: straight) == Fixtures.deterministicMetrics(in: split))

        let constant = Fixtures.temporaryFolder("constant")
        var plain = Fixtures.smallConfiguration(runDirectory: constant)
        plain.maxSteps = 20
        _ = try Fixtures.trainer(plain).run()
        #expect(try Fixtures.stateHash(constant + name) != Fixtures.stateHash(straight + name))

        let config = ScheduleTests.scheduled(straight, maxSteps: 20)
        let records = try String(contentsOfFile: straight + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["type"] as? String == "step" }
        #expect(!records.isEmpty)
        for record in records {
            let step = record["global_step"] as! Int
            let rate = config.learningRateSchedule.rate(at: step, base: config.adam.learningRate, horizon: 0)
            // Compared as the floats they are (the JSON reader's last double digit is not always the writer's).
            #expect((record["learning_rate"] as? Double).map(Float.init) == rate, "step \(step)")
            #expect(
                (record["kl_weight"] as? Double).map(Float.init) == Float(config.klSchedule.weight(at: step, base: 1)),
                "step \(step)")
        }
    }

    /// A resume with another schedule is refused naming the key; the default (constant) schedules leave the
    /// trajectory hash as it was, so earlier checkpoints resume.
    @Test func schedulesArePartOfTheTrajectory() throws {
        let json = TrainingConfiguration().trajectoryJSON
        #expect(!json.contains("lr_schedule") && !json.contains("kl_schedule"))
        let scheduled = ScheduleTests.scheduled("/tmp", maxSteps: 1).trajectoryJSON
        #expect(TrainingConfiguration.differingKeys(json, scheduled).contains("training.lr_schedule"))
        let stored = try TrainingConfiguration.parse(Data(scheduled.utf8))
        let expected = try Self.schedules(
            #""lr_schedule": "cosine", "lr_warmup_steps": 5, "lr_decay_steps": 25, "kl_schedule": "linear", "kl_warmup_steps": 20"#
        )
        #expect(stored.learningRateSchedule == expected.rate && stored.klSchedule == expected.weight)
        #expect(stored.learningRateSchedule != (try Self.schedules(#""lr_schedule": "cosine", "lr_warmup_steps": 6"#).rate))
        #expect { try TrainingConfiguration.parse(Data(#"{"training": {"lr_schedule": "exponential"}}"#.utf8)) } throws: {
            "\($0)".contains("training.lr_schedule") && "\($0)".contains("cosine")
        }
    }

    /// `--set section.key=value` reaches every key, typed and checked like the file.
    @Test func setFlagSetsAnyKey() throws {
        let dir = Fixtures.temporaryFolder()
        let (status, out, err) = try CLITests.run([
            "train", "--data", "synthetic", "--max-steps", "2", "--log-every", "1", "--run-dir", dir,
            "--set", "training.kl_schedule=linear", "--set", "training.kl_warmup_steps=4", "--set", "model.encoder_hidden=[16]",
            "--set", "model.latent_size=2", "--set", "model.decoder_hidden=[16]",
        ])
        #expect(status == 0 && out.contains("784–16–2–16–784"), "\(out)\(err)")
        let first =
            try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").first.map(String.init)
            ?? ""
        #expect(first.contains("\"kl_weight\":0.25"), "\(first)")
        let (bad, _, badErr) = try CLITests.run(["train", "--data", "synthetic", "--set", "training.kl_warmup_steps=zero"])
        #expect(bad != 0 && badErr.contains("training.kl_warmup_steps"), "\(badErr)")
        let (noEquals, _, noEqualsErr) = try CLITests.run(["train", "--set", "training.epochs"])
        #expect(noEquals != 0 && noEqualsErr.contains("section.key=value"), "\(noEqualsErr)")
    }
}

/// The piecewise-constant schedule: Burda et al.'s IWAE schedule expressed in epochs, milestones in steps, the
/// settings checked together, and the logged rate of a run following it.
@Suite struct PiecewiseScheduleTests {
    static let burda =
        #""lr_schedule": "piecewise", "lr_milestones": [1, 4, 13, 40, 121, 364, 1093], "lr_factors": [1, 0.7196856730011519, 0.517947467923121, 0.3727593720314941, 0.2682695795279726, 0.19306977288832497, 0.13894954943731375, 0.1]"#

    @Test func burdasScheduleInEpochs() throws {
        let schedule = try ScheduleTests.schedules(Self.burda).rate
        let base: Float = 1e-3, perEpoch = 3000  // 60,000 samples in batches of 20
        func rate(epoch: Double) -> Float {
            schedule.rate(at: Int(epoch * Double(perEpoch)) + 1, base: base, stepsPerEpoch: perEpoch, horizon: 0)
        }
        // Stage i (3^i epochs) runs at 10⁻³·10^(−i/7).
        for (i, start) in [0.0, 1, 4, 13, 40, 121, 364, 1093].enumerated() {
            let expected = 1e-3 * pow(10, -Double(i) / 7)
            expectClose(rate(epoch: start), expected, relative: 1e-6, absolute: 0, "stage \(i) start")
            if i > 0 {
                expectClose(
                    rate(epoch: start - 1.0 / Double(perEpoch)), 1e-3 * pow(10, -Double(i - 1) / 7), relative: 1e-6, absolute: 0)
            }
        }
        expectClose(rate(epoch: 3279.9), 1e-4, relative: 1e-6, absolute: 0)
    }

    @Test func milestonesAndFactorsAreCheckedTogether() {
        for (text, key) in [
            (#""lr_schedule": "piecewise", "lr_milestones": [10, 5], "lr_factors": [1, 0.5, 0.25]"#, "training.lr_milestones"),
            (#""lr_schedule": "piecewise", "lr_milestones": [10], "lr_factors": [1]"#, "training.lr_factors"),
            (#""lr_schedule": "piecewise", "lr_milestones": [10], "lr_factors": [1, -0.5]"#, "training.lr_factors"),
        ] {
            #expect(throws: ConfigurationError.self, "\(key)") { try ScheduleTests.schedules(text) }
        }
    }

    /// Milestones in steps: the logged rate changes after steps 2 and 4; the trajectory names the schedule.
    @Test func aRunLogsThePiecewiseRate() throws {
        let folder = Fixtures.temporaryFolder("piecewise")
        let (status, _, err) = try CLITests.run([
            "train", "--data", "synthetic", "--max-steps", "6", "--batch-size", "16", "--log-every", "1", "--threads", "1",
            "--set", "model.encoder_hidden=[8]", "--set", "model.decoder_hidden=[8]", "--set", "training.lr_schedule=piecewise",
            "--set", "training.lr_milestones=[2,4]", "--set", "training.lr_factors=[1,0.5,0.25]", "--set",
            "training.lr_milestone_unit=steps", "--run-dir", folder, "-q",
        ])
        #expect(status == 0, "\(err)")
        let rates = try String(contentsOfFile: folder + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap {
            line -> Double? in
            let record = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return record?["type"] as? String == "step" ? record?["learning_rate"] as? Double : nil
        }
        #expect(rates.map { Float($0) } == [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4].map { Float($0) }, "\(rates)")
        let config = try TrainingConfiguration.load(path: folder + "/config.json")
        #expect(config.trajectoryJSON.contains(#""lr_milestones":[2.0,4.0]"#), "\(config.trajectoryJSON)")
    }
}
