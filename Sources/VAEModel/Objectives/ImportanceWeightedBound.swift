#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import VAESettings

/// The importance-weighted bound (Burda, Grosse & Salakhutdinov 2015) with K samples per input:
///
///     z_k = μ + σ ⊙ ε_k,   log w_k = log p(x|z_k) + β·(log p(z_k) − log q(z_k|x))
///     L_K = log (1/K) Σ_k w_k   (a stable log-sum-exp),     ∇L_K = Σ_k w̃_k ∇log w_k,   w̃_k = w_k / Σ_j w_j
///
/// The decoder runs on batch × K rows (row i·K + k); ε_k is keyed by (seed, epoch, sample, k), so the bound does not
/// depend on the rank count. The gradient is the normalized-weight sum: the likelihood's output gradient and the latent
/// terms' gradients of row k are scaled by w̃_k. The reported L_K takes the configured β
/// (``VariationalAutoencoder/reportedKLWeight``), the gradients the scheduled one. L_1 is the ELBO, so K = 1 runs
/// ``EvidenceLowerBound`` (its closed-form KL where the prior has one — the ELBO's bits). Reports −L_K summed and, as
/// its parts, the ELBO's two terms averaged over the K samples (reconstruction + KL ≥ −L_K: the gap is what the extra
/// samples buy).
public struct ImportanceWeightedBound: ObjectiveKind {
    public static let name = "iwae"

    /// `training.samples`: K, the importance samples per input.
    public static let samples = Setting<Int>(
        "training.samples", default: 5, min: 1, help: "the IWAE's importance samples K per input (1: the ELBO)",
        flag: .init("samples", value: "K", help: "The IWAE's importance samples per input (default: 5)."))
    public static let settings = [samples.erased]

    /// K.
    public let count: Int
    public init(settings: SettingValues) { count = settings[ImportanceWeightedBound.samples] }

    public var describe: String { "iwae (K = \(count))" }
    public var samplesPerInput: Int { count }

    public func forward(_ model: VariationalAutoencoder, batch: Int, training: Bool, gradients: FlatBuffer) -> LossTerms {
        guard count > 1 else {
            return EvidenceLowerBound(settings: SettingValues()).forward(
                model, batch: batch, training: training, gradients: gradients)
        }
        let likelihood = model.layout.architecture.likelihood
        let rows = batch * count
        model.reparameterize(batch: batch, samples: count)
        model.replicateTargets(batch: batch, samples: count)
        model.decode(batch: rows)
        _ = likelihood.negativeLogLikelihood(model, firstRow: 0, rows: rows, gradients: nil, rowWeights: nil)
        _ = model.latentLogRatios(batch: batch, samples: count, weights: nil)
        let beta = Double(model.klWeight)
        var terms = LossTerms(samples: batch)
        for i in 0..<batch {
            let first = i * count
            var largest = -Double.infinity
            for r in first..<(first + count) {
                largest = max(largest, -model.rowLosses[r] - beta * model.rowLogRatios[r])
            }
            var total = 0.0, reconstruction = 0.0, kl = 0.0
            for r in first..<(first + count) {
                total += scalarExp(-model.rowLosses[r] - beta * model.rowLogRatios[r] - largest)
                reconstruction += model.rowLosses[r]
                kl += model.rowLogRatios[r]
            }
            for r in first..<(first + count) {
                let normalized = scalarExp(-model.rowLosses[r] - beta * model.rowLogRatios[r] - largest) / total
                model.rowWeights[r] = Float(normalized)
                model.priorWeights[r] = Float(beta * normalized)
            }
            terms.loss -= reportedBound(model, first: first, gradientBound: largest + log(total))
            terms.reconstruction += reconstruction / Double(count)
            terms.kl += kl / Double(count)
        }
        if training {
            _ = likelihood.negativeLogLikelihood(
                model, firstRow: 0, rows: rows, gradients: gradients, rowWeights: model.rowWeights)
            _ = model.latentLogRatios(batch: batch, samples: count, weights: model.priorWeights)
        }
        return terms
    }

    /// L_K of the K rows from `first` with the reported β (the configured one), given log Σ w_k with the gradients' β:
    /// the same unless a KL schedule moves the latter.
    func reportedBound(_ model: VariationalAutoencoder, first: Int, gradientBound: Double) -> Double {
        let logCount = log(Double(count))
        guard model.reportedKLWeight != model.klWeight else { return gradientBound - logCount }
        let beta = Double(model.reportedKLWeight)
        var largest = -Double.infinity
        for r in first..<(first + count) { largest = max(largest, -model.rowLosses[r] - beta * model.rowLogRatios[r]) }
        var total = 0.0
        for r in first..<(first + count) { total += scalarExp(-model.rowLosses[r] - beta * model.rowLogRatios[r] - largest) }
        return largest + log(total) - logCount
    }
}
