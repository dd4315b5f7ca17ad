import Foundation
import VAESettings
import Testing
@testable import VAETraining

/// The README's key table is the keys' declarations (``TrainingConfiguration/keysTable``), and every flag of
/// `train --help` comes from a declaration.
@Suite struct KeyTableTests {
    static let readme = "README.md"
    static let begin = "<!-- keys:begin -->\n", end = "<!-- keys:end -->"

    @Test func readmeKeyTableIsTheDeclarations() throws {
        var text = try String(contentsOfFile: Self.readme, encoding: .utf8)
        let start = try #require(text.range(of: Self.begin)), finish = try #require(text.range(of: Self.end))
        let shown = String(text[start.upperBound..<finish.lowerBound])
        let declared = TrainingConfiguration.keysTable + "\n"
        if ProcessInfo.processInfo.environment["VAE_DIST_WRITE_README"] == "1" {
            text.replaceSubrange(start.upperBound..<finish.lowerBound, with: declared)
            try text.write(toFile: Self.readme, atomically: true, encoding: .utf8)
            return
        }
        #expect(shown == declared, "README.md's key table differs from the declarations; VAE_DIST_WRITE_README=1 rewrites it")
        // Every key is a row, with its default.
        for key in TrainingConfiguration.keys { #expect(shown.contains("| `\(key.name)` |"), "\(key.name)") }
        #expect(shown.contains("| `training.lr_step_every` | `1000` |") && shown.contains("`--learning-rate`"))
    }

    @Test func everyFlagIsAKeysAndReadsAsItsKey() throws {
        let names = TrainingConfiguration.flags.map(\.flag.name)
        #expect(Set(names).count == names.count, "a flag declared twice")
        let values = try TrainingConfiguration.keyValues(
            fromFlags: [
                "--epochs", "3", "--learning-rate=0.01", "--likelihood", "gaussian", "--standardize", "--run-dir", "123",
                "--seed", "-1",
            ], bench: false)
        #expect(
            values.map(\.key) == [
                "training.epochs", "training.learning_rate", "model.likelihood", "data.standardize", "run.run_dir",
                "training.seed",
            ])
        #expect((values[4].value as? String) == "123" && (values[5].value as? NSNumber)?.intValue == -1)
        var config = TrainingConfiguration()
        #expect(throws: ConfigurationError.self) { try config.override(values.map { ($0.key, $0.value) }) }  // seed ≥ 0
        try config.override(values.dropLast().map { ($0.key, $0.value) })
        #expect(config.epochs == 3 && config.adam.learningRate == 0.01 && config.standardize && config.runDirectory == "123")
        // bench offers only its own; an unknown flag and a switch with a value are refused, naming the flag.
        #expect { try TrainingConfiguration.keyValues(fromFlags: ["--epochs", "3"], bench: true) } throws: {
            "\($0)".contains("--epochs") && "\($0)".contains("unknown option")
        }
        #expect { try TrainingConfiguration.keyValues(fromFlags: ["--standardize=yes"], bench: false) } throws: {
            "\($0)".contains("takes no value")
        }
        #expect { try TrainingConfiguration.keyValues(fromFlags: ["--epoch", "3"], bench: false) } throws: {
            "\($0)".contains("did you mean --epochs")
        }
    }
}
