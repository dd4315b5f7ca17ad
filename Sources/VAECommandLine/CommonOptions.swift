import ArgumentParser
import CAllocationCounter
import Foundation
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
    @Option(
        help: ArgumentHelp(
            "The data: a folder (MNIST's IDX files, train.npy/test.npy, or train/ test/ folders of shards), an .npy or IDX file (.gz too), a .json manifest, or 'synthetic' (default: \(defaults.dataSource); bench's: synthetic).",
            discussion: "See \"Your own data\" in the README."))
    var data: String?
    @Option(help: "Weak scaling: the batch per rank; the global batch becomes this × ranks (default: none; bench's: 128).")
    var batchPerRank: Int?
    @Option(
        help:
            "OpenBLAS threads per rank (default: all cores, 0, when training on one thread; with several threads and in bench: 1)."
    )
    var blasThreads: Int?
    @Option(
        help: ArgumentHelp(
            "Train on this many threads, each a rank of one node (node-shared: the same bits as mpirun -n N); under mpirun, in each rank (hybrid: each rank a node of N) (default: train's: the cores available that divide the batch into 32 rows or more, 1 with --blas-threads or under mpirun, a resumed run's own count; bench's: 1).",
            discussion:
                "Each thread takes its rows of every batch with one BLAS thread; their gradients are summed in a fixed order."))
    var threads: Int?
    @Option(help: "Micro-batches per global batch with --gradient-exchange exact (default: \(defaults.microBatches)).")
    var microBatches: Int?

    @Option(
        name: .customLong("set"),
        help: ArgumentHelp(
            "Any configuration key: --set training.lr_schedule=cosine --set model.latent_size=2 (repeatable; after --config).",
            discussion: "The value is read as JSON when it parses (numbers, true/false, [lists], null), else as a string.",
            valueName: "section.key=value"))
    var settings: [String] = []

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let bad = settings.first(where: { !$0.contains("=") || $0.hasPrefix("=") }) {
            throw ValidationError("--set takes section.key=value (e.g. --set training.kl_schedule=linear), got '\(bad)'")
        }
    }

    /// The flags as configuration keys; `threads`: the run's thread count when known (nil: not decided yet).
    func overrides(threads: Int?) -> [(key: String, value: Any?)] {
        [
            ("data.source", data), ("run.blas_threads", blasThreads ?? ((threads ?? 1) > 1 ? 1 : nil)),
            ("run.threads", threads), ("training.micro_batches", microBatches),
        ]
            + settings.map { setting in
                guard let equals = setting.firstIndex(of: "=") else { return (setting, nil) }  // refused by validate()
                let key = String(setting[..<equals]), text = String(setting[setting.index(after: equals)...])
                let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
                return (key, parsed ?? text)
            }
    }

    /// Last, so it wins over --batch-size: the global batch from the per-rank one.
    func perRankBatch(ranks: Int) -> [(key: String, value: Any?)] {
        [("training.batch_size", batchPerRank.map { $0 * ranks })]
    }
}

/// The configuration's defaults, shown in `--help`.
let defaults = TrainingConfiguration()

/// `--likelihood`'s values: the names ``Likelihood/names`` lists (the configuration reads `model.likelihood` by name).
struct LikelihoodName: ExpressibleByArgument {
    let rawValue: String

    init?(argument: String) {
        guard Likelihood.names.contains(argument) else { return nil }
        rawValue = argument
    }

    static var allValueStrings: [String] { Likelihood.names }
}

extension Binarization: ExpressibleByArgument {}

extension DataSplit: ExpressibleByArgument {}

extension ResumeSource: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

extension ExchangeStrategy: ExpressibleByArgument {
    /// One line per strategy for `--help`.
    static var helpText: String { allCases.map { "\($0.rawValue): \($0.summary)" }.joined(separator: "\n") }
}
