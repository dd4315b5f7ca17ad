import VAEDistributed
import VAEModel

/// Importance-weighted NLL of a test set: −log p(x) per image, with its mean and standard error.
public struct ImportanceWeightedNLL: Sendable {
    /// Mean over images of −log p̂(x), in nats.
    public var nll: Double
    /// Standard error of that mean (sample standard deviation over images / √n).
    public var standardError: Double
    public var images: Int
    public var samples: Int
    /// Whether a stop signal cut the estimate short (then the figures cover fewer images and are not reported).
    public var interrupted = false

    /// The fewest rows an estimate decodes at a time.
    static let decodingRows = 256

    /// −log p(x) for the first `images` images of `dataset` by importance sampling with K = `samples` (ε keyed by
    /// (seed, image, k), so the estimate is the same at any rank count up to the float sum of per-image values);
    /// images are dealt round-robin to the ranks and the sums reduced (collective).
    public static func estimate(
        model: VariationalAutoencoder, dataset: ImageDataset, filler: BatchFiller,
        communicator: Communicator, seed: UInt64, samples: Int, images: Int? = nil
    ) -> ImportanceWeightedNLL {
        let n = min(images ?? dataset.count, dataset.count)
        let latentSize = model.layout.architecture.latentSize
        // The K samples of an image are decoded `batchCapacity` at a time: a small training batch (Burda et al.'s 20)
        // would make every GEMM a thin one, so a model of at least 256 rows over the same parameters does it.
        let model =
            model.batchCapacity >= Self.decodingRows
            ? model : VariationalAutoencoder(layout: model.layout, batchCapacity: Self.decodingRows, parameters: model.parameters)
        var x = [Float](repeating: 0, count: dataset.pixelsPerImage)
        var scratchNoise = [Float](repeating: 0, count: latentSize)
        var sums = [0.0, 0.0, 0.0]  // Σ −log p, Σ log² p, ranks stopped by a signal
        for i in stride(from: communicator.rank, to: n, by: communicator.size) {
            // A long estimate yields to a stop request (SIGTERM under mpirun leaves the ranks seconds, not minutes).
            if StopSignal.signal != 0 {
                sums[2] = 1
                break
            }
            // The image as the test pass sees it (grey levels or the fixed binarization).
            let index = [Int32(i)]
            x.withUnsafeMutableBufferPointer { xb in
                scratchNoise.withUnsafeMutableBufferPointer { nb in
                    index.withUnsafeBufferPointer { ib in
                        filler.fill(
                            input: xb.baseAddress!, epsilon: nb.baseAddress!, latentSize: latentSize, dataset: dataset,
                            indices: ib, epoch: 0, evaluation: true)
                    }
                }
            }
            let logLikelihood = x.withUnsafeBufferPointer { xb in
                model.importanceWeightedLogLikelihood(of: xb.baseAddress!, samples: samples) { k, destination in
                    var stream = RandomStream(seed: seed, purpose: .importanceSampling, epoch: UInt64(i), index: UInt64(k))
                    stream.fillStandardNormal(destination, count: latentSize)
                }
            }
            sums[0] += -logLikelihood
            sums[1] += logLikelihood * logLikelihood
        }
        sums.withUnsafeMutableBufferPointer { communicator.allReduce($0, .sum) }
        let mean = sums[0] / Double(n)
        let variance = max(0, sums[1] / Double(n) - mean * mean) * Double(n) / Double(max(n - 1, 1))
        return ImportanceWeightedNLL(
            nll: mean, standardError: (variance / Double(n)).squareRoot(), images: n, samples: samples, interrupted: sums[2] > 0)
    }
}
