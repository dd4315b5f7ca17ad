import Foundation
import VAESettings
import Testing
@testable import VAETraining
import VAEModel

@Suite struct ConfigurationTests {
    /// `--set key=true` reaches the configuration as JSON's true, which also casts to the number 1: it must set a
    /// boolean key (it was refused as "got 1").
    @Test func aJSONTrueFromSetSetsBooleanKeys() throws {
        let value = try JSONSerialization.jsonObject(with: Data("true".utf8), options: .fragmentsAllowed)
        var settings = TrainingConfiguration()
        try settings.override([("training.cross_node_overlap", value), ("training.drop_last", value)])
        #expect(settings.crossNodeOverlap && settings.dropLast)
    }

    func parse(_ text: String) throws -> TrainingConfiguration { try TrainingConfiguration.parse(Data(text.utf8)) }

    @Test func defaultsAreThePyTorchExample() throws {
        let c = try parse("{}")
        #expect(c.architecture == .pytorchExample)
        #expect(c.batchSize == 128 && c.epochs == 10 && c.seed == 1 && c.adam.learningRate == 1e-3 && c.binarization == .none)
    }

    @Test func shippedConfigsParse() throws {
        let example = try TrainingConfiguration.load(path: "Config/mnist-pytorch-example.json")
        #expect(example.architecture == .pytorchExample && example.batchSize == 128)
        let iwae = try TrainingConfiguration.load(path: "Config/mnist-iwae-setup.json")
        #expect(iwae.architecture.encoderHidden == [200, 200] && iwae.architecture.latentSize == 50)
        #expect(iwae.architecture.activation == .tanh && iwae.binarization == .dynamic)
        _ = try TrainingConfiguration.load(path: "Config/synthetic-smoke.json")
    }

    @Test func gaussianSettings() throws {
        #expect(try parse(#"{"model": {"likelihood": "gaussian"}}"#).architecture.likelihood == .gaussian(.learned))
        #expect(
            try parse(#"{"model": {"gaussian_variance": 0.1, "likelihood": "gaussian"}}"#).architecture.likelihood
                == .gaussian(.fixed(0.1)))
        #expect(
            try parse(#"{"model": {"likelihood": "gaussian", "gaussian_variance": 0.1}}"#).architecture.likelihood
                == .gaussian(.fixed(0.1)))
    }

    @Test(arguments: [
        (#"{"training": {"batchsize": 3}}"#, "training.batchsize", "unknown key"),
        (#"{"optimizer": {}}"#, "optimizer", "unknown section"),
        (#"{"training": {"batch_size": "128"}}"#, "training.batch_size", "must be an integer"),
        (#"{"training": {"batch_size": 1.5}}"#, "training.batch_size", "must be an integer"),
        (#"{"training": {"batch_size": true}}"#, "training.batch_size", "must be an integer"),
        (#"{"training": {"batch_size": 0}}"#, "training.batch_size", "≥ 1"),
        (#"{"training": {"learning_rate": -1}}"#, "training.learning_rate", "> 0"),
        (#"{"training": {"beta2": 1.0}}"#, "training.beta2", "[0.0, 1.0)"),
        (#"{"training": {"drop_last": 1}}"#, "training.drop_last", "true or false"),
        (#"{"model": {"activation": "gelu"}}"#, "model.activation", "\"relu\""),
        (#"{"model": {"encoder_hidden": [400, -1]}}"#, "model.encoder_hidden", "≥ 1"),
        (#"{"model": {"likelihood": "poisson"}}"#, "model.likelihood", "bernoulli"),
        (#"{"training": {"gradient_exchange": "ring"}}"#, "training.gradient_exchange", "\"node-shared\""),
        (#"{"data": {"binarization": "yes"}}"#, "data.binarization", "dynamic"),
        (#"{"model": {"likelihood": "gaussian"}, "data": {"binarization": "dynamic"}}"#, "data.binarization", "grey levels"),
        (#"[1, 2]"#, "configuration", "JSON object"),
        (#"{"training": "#, "configuration", "not valid JSON"),
    ])
    func errorsNameTheKey(text: String, key: String, phrase: String) {
        do {
            _ = try parse(text)
            Issue.record("accepted \(text)")
        } catch let error as ConfigurationError {
            #expect(error.key == key, "\(text): \(error)")
            #expect(error.description.contains(phrase), "\(text): '\(error)' lacks '\(phrase)'")
        } catch {
            Issue.record("\(text): unexpected \(error)")
        }
    }

    @Test func flagsOverrideAndAreValidated() throws {
        var c = try parse(#"{"training": {"batch_size": 64}}"#)
        try c.override([
            ("training.epochs", 3), ("training.batch_size", 32), ("training.learning_rate", Float(0.01)),
            ("training.seed", UInt64(5)), ("data.binarization", "static"),
        ])
        #expect(c.batchSize == 32 && c.epochs == 3 && c.adam.learningRate == 0.01 && c.seed == 5 && c.binarization == .static)
        #expect(throws: ConfigurationError.self) { try c.override([("training.batch_size", 0)]) }
        #expect(throws: ConfigurationError.self) { try c.override([("data.binarization", "maybe")]) }
    }

    @Test func trajectoryHashIgnoresRunSettingsOnly() throws {
        let a = try parse("{}")
        var b = a
        b.epochs = 20; b.runDirectory = "elsewhere"; b.logEvery = 1; b.maxSteps = 5
        #expect(a.trajectoryHash == b.trajectoryHash)
        var c = a
        c.adam.learningRate = 2e-3
        #expect(a.trajectoryHash != c.trajectoryHash)
        #expect(TrainingConfiguration.differingKeys(a.trajectoryJSON, c.trajectoryJSON) == ["training.learning_rate"])
        // The stored JSON parses back as a configuration with the same trajectory.
        #expect(try parse(c.trajectoryJSON).trajectoryHash == c.trajectoryHash)
    }
}
