import Foundation
import Testing
import VAETestSupport
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
    /// The tests' one temporary-folder helper: a new path under the system's temporary folder, named for `name`
    /// and unique; made empty, or with `created: false` only named (its parent exists), for a run or a file to make.
    static func temporaryFolder(_ name: String = #function, created: Bool = true) -> String {
        let root = NSTemporaryDirectory() + "vae-dist-tests"
        let path = root + "/\(name.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: created ? path : root, withIntermediateDirectories: true)
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

    /// Trains `config` on `data` in one process with one BLAS thread (a new run folder) and returns the state hash of
    /// its checkpoint at `steps`: what two spellings of the same data must agree on.
    static func stateHashAfterTraining(config: String, data: String, steps: Int) throws -> String {
        let run = temporaryFolder("trained")
        let (status, _, err) = try CLITests.run([
            "train", "--config", config, "--data", data, "--run-dir", run, "--threads", "1", "--blas-threads", "1", "-q",
        ])
        #expect(status == 0, "\(err)")
        return try stateHash(run + String(format: "/checkpoint-step-%09d.safetensors", steps))
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

/// Expects `a` within `absolute + relative·|b|` of `b` (``isClose(_:_:relative:absolute:)``), saying both values when
/// it is not.
func expectClose(
    _ a: some BinaryFloatingPoint, _ b: Double, relative: Double, absolute: Double, _ comment: Comment? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let value = Double(a)
    #expect(
        isClose(value, b, relative: relative, absolute: absolute), "\(value) vs \(b)\(comment.map { ": \($0)" } ?? "")",
        sourceLocation: sourceLocation)
}

/// The tests' one way to run a process: `launch` starts it with its output piped, `finish` reads the pipes to their
/// end and waits, `run` does both.
enum TestProcess {
    /// Starts `executable ARGS` with `environment` (nil: the tests' own), stdout and stderr piped (one pipe with
    /// `combined`; to /dev/null with `discarded`, for a long job nobody reads while it runs).
    static func launch(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, combined: Bool = false,
        discarded: Bool = false
    ) throws -> (Process, Pipe, Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = combined ? out : Pipe()
        process.standardOutput = discarded ? FileHandle.nullDevice : out
        process.standardError = discarded ? FileHandle.nullDevice : err
        if discarded {
            out.fileHandleForWriting.closeFile()
            if err !== out { err.fileHandleForWriting.closeFile() }
        }
        try process.run()
        return (process, out, err)
    }

    /// Reads a launched process's output to its end and waits: (status, stdout, stderr; "" for stderr when combined).
    static func finish(_ launched: (Process, Pipe, Pipe)) -> (Int32, String, String) {
        let (process, out, err) = launched
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err === out ? Data() : err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    /// Runs `executable ARGS` to its end; `started` learns its PID first (on this thread).
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, combined: Bool = false,
        started: ((Int32) -> Void)? = nil
    ) throws -> (Int32, String, String) {
        let launched = try launch(executable, arguments, environment: environment, combined: combined)
        started?(launched.0.processIdentifier)
        return finish(launched)
    }
}

/// Central differences of the summed loss over the first `batch` rows (step `h`) against `model`'s gradients from one
/// training pass, for every parameter of every tensor: each tensor's worst |numeric − analytic| / allowed (≤ 1 passes),
/// and the number of parameters checked.
func finiteDifferenceErrors(
    _ model: VariationalAutoencoder, batch: Int, h: Float, allowed: (_ numeric: Float, _ analytic: Float) -> Float
) -> (worst: [(tensor: String, ratio: Float)], checked: Int) {
    model.forward(batch: batch, training: true)
    model.backward(batch: batch)
    let analytic = model.gradients.array
    var worst: [(tensor: String, ratio: Float)] = [], checked = 0
    for view in model.layout.tensors {
        var ratio: Float = 0
        for i in 0..<view.count {
            let index = view.offset + i, saved = model.parameters.pointer[index]
            model.parameters.pointer[index] = saved + h
            let plus = model.forward(batch: batch).loss
            model.parameters.pointer[index] = saved - h
            let minus = model.forward(batch: batch).loss
            model.parameters.pointer[index] = saved
            let numeric = Float((plus - minus) / Double(2 * h))
            ratio = max(ratio, abs(numeric - analytic[index]) / allowed(numeric, analytic[index]))
            checked += 1
        }
        worst.append((view.name, ratio))
    }
    return (worst, checked)
}
