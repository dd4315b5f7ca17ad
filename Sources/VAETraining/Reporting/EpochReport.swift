import Foundation
import Logging
import VAEBuildInfo
import VAEDistributed
import VAEModel

/// The epoch's end in the log, metrics.jsonl and TensorBoard: losses (and bits per dimension), picture grids, the
/// importance-weighted NLL.
extension TrainingReport {
    /// Bits per dimension of a per-sample loss, for byte (8-bit image) data and a likelihood that gives them.
    func bitsPerDimension(_ nats: Double) -> Double? {
        guard data.train.storage.type == .uint8, configuration.binarization == .none else { return nil }
        return configuration.architecture.likelihood.bitsPerDimension(
            nats: nats, dimensions: configuration.architecture.inputSize)
    }

    /// The epoch's summary lines, metrics record and scalars.
    public func epochFinished(_ summary: EpochSummary, globalStep: Int) {
        guard writes else { return }
        let trainLoss = summary.train.perSample.loss
        logger.info("\(String(format: "====> Epoch: %d Average loss: %.4f", summary.epoch, trainLoss))")
        var record: [String: Any] = [
            "type": "epoch", "epoch": summary.epoch, "global_step": globalStep, "train_loss": trainLoss,
            "seconds": summary.seconds,
        ]
        tensorboard?.scalar("epoch/train_loss", trainLoss, step: globalStep)
        let timing = String(format: "  epoch %.1f s, %.0f train samples/s", summary.seconds, samplesPerSecond)
        let passes = [("validation", "Validation set", summary.validation), ("test", "Test set", summary.test)]
        let last = passes.lastIndex { $0.2 != nil }
        for (index, (key, title, terms)) in passes.enumerated() {
            guard let terms = terms?.perSample else { continue }
            logger.info(
                "====> \(title) loss: \(String(format: "%.4f  (recon %.4f, KL %.4f)", terms.loss, terms.reconstruction, terms.kl))\(index == last ? timing : "")"
            )
            record["\(key)_loss"] = terms.loss
            record["\(key)_reconstruction"] = terms.reconstruction
            record["\(key)_kl"] = terms.kl
            if let bits = bitsPerDimension(terms.loss) {
                logger.info("====> \(title) bits/dim: \(String(format: "%.4f", bits))")
                record["\(key)_bits_per_dim"] = bits
                tensorboard?.scalar("\(key)/bits_per_dim", bits, step: globalStep)
            }
            tensorboard?.scalar("\(key)/loss", terms.loss, step: globalStep)
            tensorboard?.scalar("\(key)/reconstruction", terms.reconstruction, step: globalStep)
            tensorboard?.scalar("\(key)/kl", terms.kl, step: globalStep)
        }
        if last == nil { logger.info("====>\(timing)") }
        metrics.write(record)
    }

    /// `reconstructions-E.png`, `samples-E.png` and, for a 2-D latent, `manifold-E.png` in the run folder (pictures:
    /// grey or RGB ``PictureShape``s), also as TensorBoard images.
    public func images(of model: VariationalAutoencoder, filler: BatchFiller, epoch: Int, globalStep: Int) throws {
        guard writes, let heldOut = data.heldOut, PictureShape(model.layout.architecture) != nil,
            heldOut.pixelsPerImage == model.layout.architecture.inputSize, filler.standardization == nil
        else { return }
        var grids = [
            ("reconstructions", EpochImages.reconstructions(model: model, test: heldOut, filler: filler)),
            ("samples", EpochImages.samples(model: model, seed: configuration.seed)),
        ]
        if let manifold = EpochImages.manifold(model: model) { grids.append(("manifold", manifold)) }
        for (name, grid) in grids {
            let png = try PNGFile.write(
                path: store.path("\(name)-\(epoch).png"), width: grid.width, height: grid.height,
                pixels: grid.pixels, channels: grid.channels)
            tensorboard?.image(
                name, png: png, width: grid.width, height: grid.height, channels: grid.channels, step: globalStep)
        }
    }

    /// The epoch's importance-weighted NLL line, record and scalar.
    public func nllFinished(_ nll: ImportanceWeightedNLL, epoch: Int, globalStep: Int) {
        guard writes else { return }
        logger.info(
            "\(String(format: "====> Test NLL (K = %d, %d images): %.4f ± %.4f", nll.samples, nll.images, nll.nll, nll.standardError))"
        )
        metrics.write([
            "type": "nll", "epoch": epoch, "global_step": globalStep, "nll": nll.nll,
            "nll_standard_error": nll.standardError, "importance_samples": nll.samples, "images": nll.images,
        ])
        tensorboard?.scalar("test/nll", nll.nll, step: globalStep)
    }
}

extension TrainingConfiguration {
    /// Bits per dimension of a per-sample NLL in nats on `set`: for 8-bit pictures (byte data, not binarized) and a
    /// likelihood that gives them (``Likelihood/bitsPerDimension(nats:dimensions:)``), else nil.
    public func bitsPerDimension(_ nats: Double, of set: ImageDataset) -> Double? {
        guard set.storage.type == .uint8, binarization == .none else { return nil }
        return architecture.likelihood.bitsPerDimension(nats: nats, dimensions: architecture.inputSize)
    }
}
