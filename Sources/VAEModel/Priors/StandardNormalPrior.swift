import VAESettings

/// p(z) = N(0, I), the VAE's usual prior: log p(z) = Σ_d −½ (z_d² + log 2π), ∂(−log p)/∂z = z. Its KL from the
/// encoder's Gaussian has a closed form (``GaussianKL``), which the ELBO uses. No tensors, no settings.
public struct StandardNormalPrior: PriorKind {
    public static let name = "standard_normal"
    public static let settings: [AnySetting] = []
    public init(settings: SettingValues) {}

    public var describe: String { "standard_normal" }

    public func closedFormKL(_ model: VariationalAutoencoder, batch: Int, weight: Float, training: Bool) -> Double? {
        GaussianKL.forward(
            mean: model.mean, logVariance: model.logVariance, standardDeviation: model.standardDeviation,
            count: batch * model.layout.architecture.latentSize, weight: weight,
            meanGradient: training ? model.meanGradient : nil,
            logVarianceGradient: training ? model.logVarianceGradient : nil)
    }

    public func logDensity(
        _ model: VariationalAutoencoder, batch: Int, latent: UnsafePointer<Float>, rows: Int,
        into logDensities: UnsafeMutablePointer<Double>, weights: UnsafePointer<Float>?,
        latentGradient: UnsafeMutablePointer<Float>
    ) {
        let width = model.layout.architecture.latentSize
        let constant = -0.5 * Double(width) * Double(GaussianNLL.logTwoPi)
        for r in 0..<rows {
            let z = latent + r * width
            var squares = 0.0
            for d in 0..<width { squares += Double(z[d]) * Double(z[d]) }
            logDensities[r] = constant - 0.5 * squares
            if let weights {
                let w = weights[r], g = latentGradient + r * width
                for d in 0..<width { g[d] = w * z[d] }
            }
        }
    }

    public func sample(_ model: VariationalAutoencoder, count: Int, seed: UInt64, into latent: UnsafeMutablePointer<Float>) {
        let width = model.layout.architecture.latentSize
        for k in 0..<count {
            var stream = RandomStream(seed: seed, purpose: .prior, index: UInt64(k))
            stream.fillStandardNormal(latent + k * width, count: width)
        }
    }
}
