import Foundation
import Logging
@testable import VAETraining
import VAEModel

/// Shared fixtures: a small synthetic data set (built once) and quiet loggers.
enum Fixtures {
    static let smallData = DataSplits.synthetic(trainCount: 300, testCount: 100)

    static var quietLogger: Logger {
        var logger = Logger(label: "vae-dist-test")
        logger.logLevel = .critical
        return logger
    }

    /// `json` written to a fresh temp file named after `name`: a configuration for CLI tests.
    static func configFile(_ json: String, name: String) -> String {
        let path = NSTemporaryDirectory() + "vae-dist-\(name)-\(UUID().uuidString.prefix(8)).json"
        try! json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A fresh, empty temp folder.
    static func temporaryFolder(_ name: String = #function) -> String {
        let path =
            NSTemporaryDirectory() + "vae-dist-tests/\(name.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A small configuration over `smallData`: 784–32–4–32–784, batch 32 → 10 steps per epoch, the last one partial,
    /// one BLAS thread.
    static func smallConfiguration(runDirectory: String) -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.architecture = Architecture(encoderHidden: [32], latentSize: 4, decoderHidden: [32])
        c.batchSize = 32
        c.epochs = 3
        c.dataSource = "synthetic"
        c.runDirectory = runDirectory
        c.logEvery = 3
        // OpenBLAS's thread count is process-wide and the suites run in parallel (StepTests sets 1): every fixture
        // trainer sets 1 itself, so a run and its resumed twin never use different counts (whose sums may differ).
        c.blasThreads = 1
        return c
    }

    static func trainer(_ configuration: TrainingConfiguration) throws -> Trainer {
        try Trainer(configuration: configuration, data: smallData, logger: quietLogger)
    }

    /// A checkpoint's `data_sha256`: the SHA-256 of its parameters and Adam moments.
    static func stateHash(_ path: String) throws -> String {
        guard let bytes = FileManager.default.contents(atPath: path) else { throw CheckpointError.notFound(path: path) }
        return try Safetensors.decode([UInt8](bytes), path: path).metadata["data_sha256"] ?? ""
    }

    /// metrics.jsonl without the wall-clock fields, which legitimately differ between runs.
    static func deterministicMetrics(in folder: String) -> [String] {
        let text = (try? String(contentsOfFile: folder + "/metrics.jsonl", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map { line in
            line.replacingOccurrences(of: #""samples_per_second":[^,}]*,?"#, with: "", options: .regularExpression)
                .replacingOccurrences(of: #""seconds":[^,}]*,?"#, with: "", options: .regularExpression)
        }
    }
}
