import VAEDistributed
import VAESettings
import VAEModel

extension ExchangeSettings {
    /// What `configuration` asks of an exchange.
    public init(_ configuration: TrainingConfiguration) {
        self.init(
            layout: ParameterLayout(configuration.architecture), globalBatchSize: configuration.batchSize,
            klWeight: Float(configuration.klWeight), adam: configuration.adam, microBatches: configuration.microBatches,
            clipNorm: Float(configuration.clipGradientNorm))
        objective = configuration.objective
        crossNodeCompression = configuration.crossNodeCompression
        crossNodeOverlap = configuration.crossNodeOverlap
    }
}

/// The training set and its seeded draws as a ``BatchSource``: rows and ε for the exchanges' steps.
final class TrainingBatches: BatchSource {
    let dataset: ImageDataset
    let filler: BatchFiller

    init(dataset: ImageDataset, filler: BatchFiller) {
        self.dataset = dataset
        self.filler = filler
    }

    func fill(_ model: VariationalAutoencoder, indices: UnsafeBufferPointer<Int32>, epoch: Int) {
        filler.fill(
            input: model.input, epsilon: model.epsilon, latentSize: model.layout.architecture.latentSize,
            samples: model.samplesPerInput, dataset: dataset, indices: indices, epoch: epoch, evaluation: false)
    }
}

extension TrainingBatches {
    /// `data.flip`: training pictures mirrored left to right at random (``BatchFiller/flip``).
    static let flip = Setting<Bool>(
        "data.flip", default: false,
        help: "mirror each training picture left to right with probability ½, keyed by (seed, epoch, sample)",
        read: { try $0.bool() }, json: { "\($0)" })
}
