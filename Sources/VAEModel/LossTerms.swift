/// Summed loss terms over a batch (or a whole dataset), in nats.
public struct LossTerms: Equatable, Sendable {
    /// Σ −log p(x|z) over samples.
    public var reconstruction: Double = 0
    /// Σ KL(q(z|x) ‖ N(0, I)) over samples (not multiplied by β).
    public var kl: Double = 0
    /// Number of samples summed.
    public var samples: Int = 0

    public init(reconstruction: Double = 0, kl: Double = 0, samples: Int = 0) {
        self.reconstruction = reconstruction
        self.kl = kl
        self.samples = samples
    }

    /// −ELBO summed: reconstruction + β·KL.
    public func loss(klWeight: Double) -> Double { reconstruction + klWeight * kl }

    /// Means per sample: −ELBO (with β), reconstruction and KL, as the logs and metrics report them.
    public func perSample(klWeight: Double) -> (loss: Double, reconstruction: Double, kl: Double) {
        let n = Double(samples)
        return (loss(klWeight: klWeight) / n, reconstruction / n, kl / n)
    }

    public static func += (lhs: inout LossTerms, rhs: LossTerms) {
        lhs.reconstruction += rhs.reconstruction
        lhs.kl += rhs.kl
        lhs.samples += rhs.samples
    }
}
