import ArgumentParser
import Foundation
import Logging
import VAETraining

/// `vae-dist`: parses the command line and dispatches to VAETraining. No math lives here.
@main
struct VAEDist: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vae-dist",
        abstract: "Train and evaluate variational autoencoders (BLAS-backed, data-parallel over MPI).",
        subcommands: [Train.self, Evaluate.self],
        defaultSubcommand: Train.self)
}

/// Shared start-up: logging to standard output, and user-facing errors instead of traces.
enum Console {
    static func bootstrap() {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardOutput(label: label)
            handler.logLevel = .info
            return handler
        }
    }

    /// Runs `body`, turning a thrown error into `error: …` on standard error and exit status 1.
    static func run(_ body: () throws -> Void) throws {
        do { try body() } catch let error as CustomStringConvertible {
            FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
            throw ExitCode.failure
        }
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a VAE (the default command).",
        discussion: """
        Settings come from --config (JSON, see Config/), then from the flags given here. Without --config the \
        defaults are the PyTorch MNIST VAE example: 784–400–20–400–784, ReLU, Bernoulli on grey levels, Adam \
        lr 1e-3, batch 128, 10 epochs, seed 1. Checkpoints, metrics.jsonl and the `latest` pointer go to --run-dir.
        """)

    @Option(help: "A JSON training configuration (see Config/).")
    var config: String?
    @Option(help: "A folder with the four MNIST IDX files, or 'synthetic' for the built-in data set.")
    var data: String?
    @Option(help: "Epochs to train in total (a resumed run continues up to this count).")
    var epochs: Int?
    @Option(help: "Stop after this many optimizer steps in total.")
    var maxSteps: Int?
    @Option(help: "Global batch size.")
    var batchSize: Int?
    @Option(help: "Adam learning rate.")
    var learningRate: Float?
    @Option(help: "Seed of every random stream (initialization, data order, ε, binarization).")
    var seed: UInt64?
    @Option(help: "Binarization of the pixels: none (grey levels), dynamic or static.")
    var binarization: String?
    @Option(help: "Folder for checkpoints, the latest pointer and metrics.jsonl.")
    var runDir: String?
    @Option(help: "Resume from 'latest' (the run folder's pointer) or a checkpoint path.")
    var resume: String?
    @Option(help: "Also checkpoint every this many steps (0: only at epoch ends and at the stop).")
    var checkpointEvery: Int?
    @Option(help: "Checkpoints kept after rotation.")
    var keepCheckpoints: Int?
    @Option(help: "Print a progress line every this many steps.")
    var logEvery: Int?
    @Option(help: "OpenBLAS threads (default: all cores).")
    var blasThreads: Int?

    func run() throws {
        Console.bootstrap()
        try Console.run {
            var settings = try config.map(TrainingConfiguration.load(path:)) ?? TrainingConfiguration()
            try settings.override(
                data: data, epochs: epochs, maxSteps: maxSteps, batchSize: batchSize, learningRate: learningRate,
                seed: seed, binarization: binarization, runDirectory: runDir, checkpointEvery: checkpointEvery,
                keepCheckpoints: keepCheckpoints, logEvery: logEvery, blasThreads: blasThreads)
            let splits = try DataSplits.load(settings.dataSource)
            let trainer = try Trainer(configuration: settings, data: splits)
            let summary = try trainer.run(resume: resume.map(ResumeSource.init))
            if let last = summary.epochs.last {
                let loss = last.test.loss(klWeight: settings.klWeight) / Double(last.test.samples)
                trainer.logger.info("\(String(format: "done: test loss %.4f after epoch %d; %.0f train samples/s", loss, last.epoch, summary.samplesPerSecond))")
            }
        }
    }
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Print the test −ELBO per sample of a checkpoint (the example's \"Test set loss\").",
        discussion: "The architecture, seed and binarization come from the checkpoint itself.")

    @Option(help: "A checkpoint (.safetensors) written by vae-dist train.")
    var checkpoint: String
    @Option(help: "A folder with the four MNIST IDX files, or 'synthetic'.")
    var data: String = "Data/mnist"
    @Flag(help: "Print one JSON object: test_loss, reconstruction, kl, samples.")
    var json = false

    func run() throws {
        Console.bootstrap()
        try Console.run {
            let splits = try DataSplits.load(data)
            let result = try Evaluation.evaluate(checkpoint: checkpoint, data: splits)
            if json {
                print(String(format: "{\"test_loss\":%.6f,\"reconstruction\":%.6f,\"kl\":%.6f,\"samples\":%d,\"global_step\":%d}",
                             result.loss, result.reconstruction, result.kl, result.samples, result.globalStep))
            } else {
                print(String(format: "====> Test set loss: %.4f  (reconstruction %.4f, KL %.4f; %d samples, step %d)",
                             result.loss, result.reconstruction, result.kl, result.samples, result.globalStep))
            }
        }
    }
}
