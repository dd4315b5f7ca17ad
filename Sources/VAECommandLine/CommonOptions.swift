import ArgumentParser
import CAllocationCounter
import Foundation
import VAESettings
import Logging
import VAEBuildInfo
import VAEDistributed
import VAEMPI
import VAEModel
import VAETraining

/// The options `train` and `bench` share.
struct CommonOptions: ParsableArguments {
    @Option(
        help:
            "A JSON training configuration, e.g. Config/mnist-pytorch-example.json or a run's config.json (default: the PyTorch example's settings)."
    )
    var config: String?
    @Option(help: "Weak scaling: the batch per rank; the global batch becomes this × ranks (default: none; bench's: 128).")
    var batchPerRank: Int?

    @Option(
        name: .customLong("set"),
        help: ArgumentHelp(
            "Any configuration key: --set training.lr_schedule=cosine --set model.latent_size=2 (repeatable; after --config).",
            discussion: "The value is read as JSON when it parses (numbers, true/false, [lists], null), else as a string.",
            valueName: "section.key=value"))
    var settings: [String] = []

    /// The configuration keys' own flags (`--epochs`, `--data` …, declared with each key), as ArgumentParser leaves
    /// them; read by ``keyValues(bench:)``.
    @Argument(
        parsing: .allUnrecognized,
        help: ArgumentHelp(
            "The settings' flags, each a configuration key (declared with the key; `--set` takes any key):",
            discussion: TrainingConfiguration.flagsHelp(bench: false), valueName: "setting flags"))
    var keyFlags: [String] = []

    func validate() throws {
        if let bad = settings.first(where: { !$0.contains("=") || $0.hasPrefix("=") }) {
            throw ValidationError("--set takes section.key=value (e.g. --set training.kl_schedule=linear), got '\(bad)'")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    /// The key flags given (`bench`: only bench's), checked against their declarations; an unknown flag is an error.
    func keyValues(bench: Bool) throws -> [(key: String, value: Any)] {
        do { return try TrainingConfiguration.keyValues(fromFlags: keyFlags, bench: bench) } catch let error as ConfigurationError
        {
            throw ValidationError("\(error.key): \(error.problem)")
        }
    }

    /// `--threads` when given (a bad value is refused by the configuration's check).
    var threads: Int? {
        let given = (try? TrainingConfiguration.keyValues(fromFlags: keyFlags, bench: false))?.last { $0.key == "run.threads" }
        return (given?.value as? NSNumber).map(\.intValue)
    }

    /// The flags as configuration keys, in order: the thread count and its BLAS threads, `--set`, then the key flags (`threads`: the run's thread count when known, nil: not decided yet).
    func overrides(threads: Int?, bench: Bool = false) -> [(key: String, value: Any?)] {
        // The thread count the run chose (recorded in config.json), and one BLAS thread per thread when several.
        let chosen: [(key: String, value: Any?)] = [("run.threads", threads), ("run.blas_threads", (threads ?? 1) > 1 ? 1 : nil)]
        let set: [(key: String, value: Any?)] = settings.map { setting in
            guard let equals = setting.firstIndex(of: "=") else { return (setting, nil) }  // refused by validate()
            let key = String(setting[..<equals]), text = String(setting[setting.index(after: equals)...])
            let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
            return (key, parsed ?? text)
        }
        let flags = ((try? keyValues(bench: bench)) ?? []).map { (key: $0.key, value: Optional($0.value)) }
        return chosen + set + flags
    }

    /// Last, so it wins over --batch-size: the global batch from the per-rank one.
    func perRankBatch(ranks: Int) -> [(key: String, value: Any?)] {
        [("training.batch_size", batchPerRank.map { $0 * ranks })]
    }
}

/// The configuration's defaults, shown in `--help`.
let defaults = TrainingConfiguration()

extension Binarization: ExpressibleByArgument {}

extension DataSplit: ExpressibleByArgument {}

extension ResumeSource: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

extension ExchangeStrategy: ExpressibleByArgument {
    /// One line per strategy for `--help`.
    static var helpText: String { allCases.map { "\($0.rawValue): \($0.summary)" }.joined(separator: "\n") }
}
