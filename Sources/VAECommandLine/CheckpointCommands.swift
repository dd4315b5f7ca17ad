import ArgumentParser
import Foundation
import VAEDistributed
import VAETraining

// The commands that start from a checkpoint: eval, sample, export.

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract:
            "Print the test (or validation) loss per sample of a checkpoint — its objective's negative bound, −ELBO or −L_K (the example's \"Test set loss\").",
        discussion:
            "The architecture, seed, binarization, standardization and validation split come from the checkpoint itself.")

    @OptionGroup var log: LogOptions
    @OptionGroup var kernels: KernelOptions
    @Option(help: "A checkpoint (.safetensors) written by vae-dist train.")
    var checkpoint: String
    @Option(help: "The data the checkpoint was trained on: a folder, a file, a .json manifest, or 'synthetic'.")
    var data: String = "Data/mnist"
    @Option(help: "The set to evaluate: test or validation (train works too).")
    var split: DataSplit = .test
    @Flag(
        help:
            "Print one JSON object: SPLIT_loss, reconstruction, kl, samples (and nll, nll_standard_error; bits_per_dim, nll_bits_per_dim and psnr for 8-bit images)."
    )
    var json = false
    @Option(help: "Also estimate −log p(x) by importance sampling with K samples per image (the papers use 5000).")
    var importanceSamples: Int?
    @Option(help: "With --importance-samples: only the first N test images.")
    var images: Int?

    func validate() throws {
        if let k = importanceSamples, k < 1 { throw ValidationError("--importance-samples must be at least 1") }
        if let images, images < 1 { throw ValidationError("--images must be at least 1") }
    }

    func run() throws {
        try kernels.start()
        try Console.run(stopsAtOnce: true, logLevel: log.level) { communicator, _ in
            let result = try Evaluation.evaluate(
                checkpoint: checkpoint, dataSource: data, split: split, communicator: communicator,
                importanceSamples: importanceSamples, images: images)
            guard communicator.isLeader else { return }
            let weighted = result.importanceWeighted
            if json {
                let extra =
                    weighted.map {
                        String(
                            format: ",\"nll\":%.6f,\"nll_standard_error\":%.6f,\"importance_samples\":%ld,\"nll_images\":%ld",
                            $0.nll, $0.standardError, $0.samples, $0.images)
                    } ?? ""
                let bits =
                    (result.bitsPerDimension.map { String(format: ",\"bits_per_dim\":%.6f", $0) } ?? "")
                    + (result.nllBitsPerDimension.map { String(format: ",\"nll_bits_per_dim\":%.6f", $0) } ?? "")
                    + (result.peakSignalToNoise.map { String(format: ",\"psnr\":%.4f", $0) } ?? "")
                print(
                    "{\"\(result.split.rawValue)_loss\":"
                        + String(
                            format: "%.6f,\"reconstruction\":%.6f,\"kl\":%.6f,\"samples\":%ld,\"global_step\":%ld",
                            result.loss, result.reconstruction, result.kl, result.samples, result.globalStep) + extra + bits + "}"
                )
            } else {
                let title = ["train": "Training", "validation": "Validation", "test": "Test"][result.split.rawValue]!
                print(
                    "====> \(title) set loss: "
                        + String(
                            format: "%.4f  (reconstruction %.4f, KL %.4f; %ld samples, step %ld)",
                            result.loss, result.reconstruction, result.kl, result.samples, result.globalStep))
                if let bits = result.bitsPerDimension { print(String(format: "====> bits/dim: %.4f", bits)) }
                if let psnr = result.peakSignalToNoise { print(String(format: "====> reconstruction PSNR: %.2f dB", psnr)) }
                if let weighted {
                    print(
                        String(
                            format: "====> Test NLL (importance-weighted, K = %d, %d images): %.4f ± %.4f",
                            weighted.samples, weighted.images, weighted.nll, weighted.standardError))
                }
            }
        }
    }
}

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a PNG grid of decodes of z ~ p(z), the model's prior, from a checkpoint's model.")

    @OptionGroup var log: LogOptions
    @OptionGroup var kernels: KernelOptions
    @Option(help: "A checkpoint (.safetensors) written by vae-dist train.")
    var checkpoint: String
    @Option(help: "How many samples (tiled into a square grid).")
    var count: Int = 64
    @Option(help: "The PNG file to write (a grid).")
    var out: String?
    @Option(help: "Also write each sample as its own PNG, sample-0000.png …, in this folder (made if missing).")
    var outFolder: String?
    @Option(help: "Seed of the z draws.")
    var seed: UInt64 = 1
    @Option(help: "Decode these z instead: --count rows of latent_size little-endian float32 values.")
    var latentFile: String?
    @Option(help: "Also write the decoded means as little-endian float32 (count × input size, in the data's units).")
    var rawOut: String?
    @Flag(help: "Replace an existing --out or --raw-out file (never a checkpoint, a run folder's own file or an input).")
    var force = false

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        guard out != nil || rawOut != nil || outFolder != nil else {
            throw ValidationError("give --out FILE.png, --out-folder DIR and/or --raw-out FILE")
        }
    }

    func run() throws {
        try kernels.start()
        try Console.beforeStart {
            let pictures = outFolder.map { folder in (0..<count).map { Evaluation.samplePath(in: folder, index: $0) } } ?? []
            try OutputPath.check(
                [("--out", out), ("--raw-out", rawOut)] + pictures.map { ("--out-folder", $0) },
                inputs: [checkpoint] + (latentFile.map { [$0] } ?? []), force: force)
        }
        try Console.run(logLevel: log.level) { _, _ in
            try Evaluation.sample(
                checkpoint: checkpoint, count: count, seed: seed, out: out, latentFile: latentFile, rawOut: rawOut,
                outFolder: outFolder)
        }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint's model tensors alone as safetensors, for PyTorch's load_state_dict(strict=True).",
        discussion: """
            The names and shapes are the PyTorch example's module's (fc1.weight [400, 784], fc1.bias, fc21, fc22, \
            fc3, fc4 for the default model): `model.load_state_dict(safetensors.torch.load_file(FILE))`. Adam's \
            moments and the data standardization stay in the checkpoint.
            """)

    @Argument(help: "A checkpoint (.safetensors) written by vae-dist train.")
    var checkpoint: String
    @Option(help: "The safetensors file to write.")
    var out: String
    @Flag(help: "Replace an existing --out file (never a checkpoint, a run folder's own file or the input).")
    var force = false
    @OptionGroup var log: LogOptions

    func run() throws {
        try Console.beforeStart { try OutputPath.check([("--out", out)], inputs: [checkpoint], force: force) }
        try Console.run(logLevel: log.level) { communicator, logger in
            let loaded = try LoadedModel.load(checkpoint: checkpoint, communicator: communicator)
            guard communicator.isLeader else { return }
            let bytes = ModelWeights.export(
                layout: loaded.model.layout, parameters: loaded.model.parameters,
                source: [
                    "source_checkpoint": (checkpoint as NSString).lastPathComponent,
                    "global_step": "\(loaded.metadata.position.globalStep)",
                ])
            try AtomicFile.write(bytes, to: out)
            logger.info(
                "wrote \(loaded.model.layout.tensors.count) model tensors (\(loaded.model.layout.architecture.describe)) to \(out)"
            )
        }
    }
}
