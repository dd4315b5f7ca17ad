#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension VariationalAutoencoder {
    /// log p(x) estimated by importance sampling with the encoder as proposal (Burda et al. 2015):
    ///
    ///     log p(x) ≈ log (1/K) Σₖ p(x|zₖ) p(zₖ) / q(zₖ|x),   zₖ = μ + σ ⊙ εₖ ~ q(z|x)
    ///
    /// computed with a streaming log-sum-exp, ``batchCapacity`` samples at a time, so any K fits in memory; p(z) is the
    /// model's prior (``Prior``).
    /// `x` is one image (`inputSize` values); `fillNoise(k, destination)` writes εₖ (`latentSize` normals) — the
    /// caller keys it by (seed, image, k) so the estimate does not depend on chunking or ranks.
    public func importanceWeightedLogLikelihood(
        of x: UnsafePointer<Float>, samples: Int,
        fillNoise: (Int, UnsafeMutablePointer<Float>) -> Void
    ) -> Double {
        let architecture = layout.architecture
        let width = architecture.inputSize, latentSize = architecture.latentSize
        input.update(from: x, count: width)
        encode(batch: 1)
        // q's parameters for this x, kept in double.
        var mu = [Double](repeating: 0, count: latentSize), logVar = [Double](repeating: 0, count: latentSize)
        for d in 0..<latentSize { mu[d] = Double(mean[d]); logVar[d] = Double(logVariance[d]) }
        var logQ = [Double](repeating: 0, count: batchCapacity)
        var runningMax = -Double.infinity, runningSum = 0.0
        var done = 0
        let prior = architecture.prior.kind
        while done < samples {
            let count = min(batchCapacity, samples - done)
            for r in 0..<count {
                let e = epsilon + r * latentSize, z = latent + r * latentSize
                fillNoise(done + r, e)
                var logDensity = 0.0
                for d in 0..<latentSize {
                    let sigma = exp(0.5 * logVar[d])
                    z[d] = Float(mu[d] + sigma * Double(e[d]))
                    logDensity -= 0.5 * (Double(GaussianNLL.logTwoPi) + logVar[d] + Double(e[d]) * Double(e[d]))
                }
                logQ[r] = logDensity
                (targets + r * width).update(from: x, count: width)
            }
            // log p(z) after an encoder pass over one row (the prior's rows follow it).
            prior.logDensity(
                self, batch: 1, latent: latent, rows: count, into: rowLogPriors, weights: nil,
                latentGradient: priorLatentGradient)
            decode(batch: count)
            for r in 0..<count {
                let negativeLogLikelihood = architecture.likelihood.negativeLogLikelihood(
                    self, firstRow: r, rows: 1, gradients: nil, rowWeights: nil)
                let logWeight = rowLogPriors[r] - logQ[r] - negativeLogLikelihood
                if logWeight > runningMax {
                    runningSum = runningSum * exp(runningMax - logWeight) + 1
                    runningMax = logWeight
                } else {
                    runningSum += exp(logWeight - runningMax)
                }
            }
            done += count
        }
        return runningMax + log(runningSum) - log(Double(samples))
    }
}
