import VAESettings

/// The ELBO, one ε per sample (Kingma & Welling 2014): −ELBO = −log p(x|z) + β·KL(q(z|x) ‖ p(z)) with
/// z = μ + σ ⊙ ε. The KL is the prior's closed form where it has one (N(0, I): ``GaussianKL``), else the single-sample
/// Monte Carlo estimate log q(z|x) − log p(z) at the same z (the VampPrior's). Reports the bound (with the model's
/// ``VariationalAutoencoder/reportedKLWeight``) and its two parts. No settings of its own.
public struct EvidenceLowerBound: ObjectiveKind {
    public static let name = "elbo"
    public static let settings: [AnySetting] = []
    public init(settings: SettingValues) {}

    public var describe: String { "elbo" }
    public var samplesPerInput: Int { 1 }

    public func forward(_ model: VariationalAutoencoder, batch: Int, training: Bool, gradients: FlatBuffer) -> LossTerms {
        let architecture = model.layout.architecture
        model.reparameterize(batch: batch, samples: 1)
        model.decode(batch: batch)
        let weight = model.klWeight
        let kl: Double
        if let closedForm = architecture.prior.kind.closedFormKL(model, batch: batch, weight: weight, training: training) {
            kl = closedForm
        } else {
            if training { model.priorWeights.update(repeating: weight, count: batch) }
            kl = model.latentLogRatios(batch: batch, samples: 1, weights: training ? model.priorWeights : nil)
        }
        let reconstruction = architecture.likelihood.negativeLogLikelihood(
            model, firstRow: 0, rows: batch, gradients: training ? gradients : nil, rowWeights: nil)
        return LossTerms(
            loss: reconstruction + Double(model.reportedKLWeight) * kl, reconstruction: reconstruction, kl: kl, samples: batch)
    }
}
