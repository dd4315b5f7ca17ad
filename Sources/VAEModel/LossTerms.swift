/// Summed loss terms over a batch (or a whole dataset), in nats: the bound the objective minimizes and its two named
/// parts, whatever the objective (``Objective``) — so the wire, checkpoints, metrics and reports never ask which ran.
public struct LossTerms: Equatable, Sendable {
    /// Σ of the negative bound over samples: −ELBO (with β) or the IWAE's −L_K — what training minimizes.
    public var loss: Double = 0
    /// Σ −log p(x|z) over samples (averaged over an IWAE's K samples).
    public var reconstruction: Double = 0
    /// Σ KL(q(z|x) ‖ p(z)) over samples, not multiplied by β (closed form, or log q − log p at the samples).
    public var kl: Double = 0
    /// Number of samples summed.
    public var samples: Int = 0

    public init(loss: Double = 0, reconstruction: Double = 0, kl: Double = 0, samples: Int = 0) {
        self.loss = loss
        self.reconstruction = reconstruction
        self.kl = kl
        self.samples = samples
    }

    /// Means per sample: the loss, reconstruction and KL, as the logs and metrics report them.
    public var perSample: (loss: Double, reconstruction: Double, kl: Double) {
        let n = Double(samples)
        return (loss / n, reconstruction / n, kl / n)
    }

    public static func += (lhs: inout LossTerms, rhs: LossTerms) {
        lhs.loss += rhs.loss
        lhs.reconstruction += rhs.reconstruction
        lhs.kl += rhs.kl
        lhs.samples += rhs.samples
    }
}
