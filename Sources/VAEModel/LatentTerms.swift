#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The latent side of an objective, shared by every objective and prior: the K samples per input, their log-ratios
/// log q(z|x) − log p(z) with their gradients, and the way back from z to μ and log σ².
extension VariationalAutoencoder {
    /// z = μ + σ ⊙ ε for the first `batch` samples, K = `samples` rows each (row i·K + k: sample i's μ and σ with
    /// ε row i·K + k); σ kept for backward. K = 1 is ``Reparameterization/forward(mean:logVariance:epsilon:standardDeviation:latent:count:)``.
    public func reparameterize(batch: Int, samples: Int) {
        let width = layout.architecture.latentSize
        Reparameterization.forward(
            mean: mean, logVariance: logVariance, epsilon: epsilon, standardDeviation: standardDeviation,
            latent: latent, count: batch * width)
        guard samples > 1 else { return }
        // The pass above wrote σ (the same vectorized expf the ELBO uses, so both see the same σ) and z for ε's first
        // rows; each sample's K rows from its μ and σ replace those z.
        for i in 0..<batch {
            for k in 0..<samples {
                let row = i * samples + k
                for d in 0..<width {
                    latent[row * width + d] = mean[i * width + d] + standardDeviation[i * width + d] * epsilon[row * width + d]
                }
            }
        }
    }

    /// Copies each of the first `batch` input rows into its K rows of ``targets`` (the likelihood's targets).
    public func replicateTargets(batch: Int, samples: Int) {
        guard samples > 1 else { return }
        let width = layout.architecture.inputSize
        for i in 0..<batch {
            for k in 0..<samples { (targets + (i * samples + k) * width).update(from: input + i * width, count: width) }
        }
    }

    /// ∂z/∂μ = 1, ∂z/∂log σ² = ½ σ ε: adds each sample's K rows of ∂loss/∂z into its μ and log σ² gradients.
    func reparameterizationBackward(batch: Int) {
        let width = layout.architecture.latentSize, samples = samplesPerInput
        guard samples > 1 else {
            Reparameterization.backward(
                latentGradient: latentGradient, epsilon: epsilon, standardDeviation: standardDeviation,
                meanGradient: meanGradient, logVarianceGradient: logVarianceGradient, count: batch * width)
            return
        }
        for i in 0..<batch {
            for d in 0..<width {
                var toMean: Float = 0, toLogVariance: Float = 0
                for k in 0..<samples {
                    let r = (i * samples + k) * width + d
                    toMean += latentGradient[r]
                    toLogVariance += 0.5 * latentGradient[r] * standardDeviation[i * width + d] * epsilon[r]
                }
                meanGradient[i * width + d] += toMean
                logVarianceGradient[i * width + d] += toLogVariance
            }
        }
    }

    /// log q(z|x) − log p(z) of each of the batch × K latent rows into ``rowLogRatios`` (log p into ``rowLogPriors``),
    /// after ``reparameterize(batch:samples:)``; returns their sum. log q(z|x) = Σ_d −½ (log 2π + log σ²_d + ε_d²) at
    /// z = μ + σ ⊙ ε. With `weights` (training: β, times an IWAE's normalized weight) it *writes* the heads' gradients of
    /// Σ_r weights[r]·(log q − log p)(z_r): through z (the prior's ∂(−log p)/∂z) and log q's own −½ per log σ²_d.
    @discardableResult
    public func latentLogRatios(batch: Int, samples: Int, weights: UnsafePointer<Float>?) -> Double {
        let width = layout.architecture.latentSize, rows = batch * samples
        layout.architecture.prior.kind.logDensity(
            self, batch: batch, latent: latent, rows: rows, into: rowLogPriors, weights: weights,
            latentGradient: priorLatentGradient)
        let constant = Double(GaussianNLL.logTwoPi)
        var sum = 0.0
        for i in 0..<batch {
            for k in 0..<samples {
                let r = i * samples + k
                var logQ = 0.0
                for d in 0..<width {
                    let e = Double(epsilon[r * width + d])
                    logQ -= 0.5 * (constant + Double(logVariance[i * width + d]) + e * e)
                }
                rowLogRatios[r] = logQ - rowLogPriors[r]
                sum += rowLogRatios[r]
            }
            guard let weights else { continue }
            for d in 0..<width {
                var toMean: Float = 0, toLogVariance: Float = 0
                for k in 0..<samples {
                    let r = i * samples + k, g = priorLatentGradient[r * width + d]
                    toMean += g
                    toLogVariance += -0.5 * weights[r] + 0.5 * g * standardDeviation[i * width + d] * epsilon[r * width + d]
                }
                meanGradient[i * width + d] = toMean
                logVarianceGradient[i * width + d] = toLogVariance
            }
        }
        return sum
    }

    /// `count` draws z ~ p(z), draw k keyed by (seed, k) (for the prior's encoder rows, encoded here first).
    public func priorSamples(count: Int, seed: UInt64) -> [Float] {
        let width = layout.architecture.latentSize
        if priorRows > 0 { encode(batch: 0) }
        var z = [Float](repeating: 0, count: count * width)
        z.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            layout.architecture.prior.kind.sample(self, count: count, seed: seed, into: base)
        }
        return z
    }
}
