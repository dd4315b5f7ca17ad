import CKernels

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// Each op is a `forward` and a `backward` side by side, in the manner of llm.c. Tensors are row-major
// `[batch, features]`; forward keeps (in the caller's workspace) what backward needs; backward *overwrites*
// the parameter gradients it owns and the input gradient it is given.

/// e^x for one double, never vectorized. The release build maps math calls to glibc's libmvec
/// (`-vector-library=LIBMVEC`), and a loop of double `exp` can become its four-lane AVX2 variant called with the SSE2
/// baseline's registers, which returns garbage (NaN, 0) in the upper lanes; every double `exp` in a loop goes here.
@inline(never)
public func scalarExp(_ x: Double) -> Double { exp(x) }

/// The reparameterization trick: z = μ + σ ⊙ ε with σ = exp(½ log σ²) and ε ~ N(0, I) given.
public enum Reparameterization {
    /// Writes σ (kept for backward) and z.
    @inlinable
    public static func forward(
        mean: UnsafePointer<Float>, logVariance: UnsafePointer<Float>,
        epsilon: UnsafePointer<Float>, standardDeviation: UnsafeMutablePointer<Float>,
        latent: UnsafeMutablePointer<Float>, count: Int
    ) {
        for i in 0..<count {
            let sigma = expf(0.5 * logVariance[i])
            standardDeviation[i] = sigma
            latent[i] = mean[i] + sigma * epsilon[i]
        }
    }

    /// ∂z/∂μ = 1, ∂z/∂log σ² = ½ σ ε: *adds* dz into dμ and ½ σ ε dz into d log σ².
    @inlinable
    public static func backward(
        latentGradient: UnsafePointer<Float>, epsilon: UnsafePointer<Float>,
        standardDeviation: UnsafePointer<Float>,
        meanGradient: UnsafeMutablePointer<Float>, logVarianceGradient: UnsafeMutablePointer<Float>,
        count: Int
    ) {
        for i in 0..<count {
            meanGradient[i] += latentGradient[i]
            logVarianceGradient[i] += 0.5 * latentGradient[i] * standardDeviation[i] * epsilon[i]
        }
    }
}

/// KL(N(μ, σ²) ‖ N(0, 1)) in closed form, summed: −½ Σ (1 + log σ² − μ² − σ²).
/// Its gradient is ∂/∂μ = μ, ∂/∂log σ² = ½ (σ² − 1).
public enum GaussianKL {
    /// Returns the sum over `count` elements (double accumulation). `standardDeviation` is σ from the
    /// reparameterization's forward, so σ² costs no extra `exp`. When `meanGradient` and `logVarianceGradient`
    /// are given (training), the same pass *writes* β·∂KL/∂μ and β·∂KL/∂log σ² into them for backward.
    @inlinable
    public static func forward(
        mean: UnsafePointer<Float>, logVariance: UnsafePointer<Float>,
        standardDeviation: UnsafePointer<Float>, count: Int, weight: Float = 1,
        meanGradient: UnsafeMutablePointer<Float>? = nil,
        logVarianceGradient: UnsafeMutablePointer<Float>? = nil
    ) -> Double {
        var sum: Double = 0
        if let meanGradient, let logVarianceGradient {
            for i in 0..<count {
                let variance = standardDeviation[i] * standardDeviation[i]
                sum += Double(-0.5 * (1 + logVariance[i] - mean[i] * mean[i] - variance))
                meanGradient[i] = weight * mean[i]
                logVarianceGradient[i] = weight * 0.5 * (variance - 1)
            }
        } else {
            for i in 0..<count {
                let variance = standardDeviation[i] * standardDeviation[i]
                sum += Double(-0.5 * (1 + logVariance[i] - mean[i] * mean[i] - variance))
            }
        }
        return sum
    }
}

/// Bernoulli likelihood on logits ℓ, the stable binary cross-entropy for targets x ∈ [0, 1]:
/// −log p(x|ℓ) = softplus(ℓ) − x·ℓ = max(ℓ, 0) − x·ℓ + log(1 + e^(−|ℓ|)), with ∂/∂ℓ = sigmoid(ℓ) − x.
public enum BernoulliNLL {
    /// The summed negative log-likelihood (each row's into `rowSums` when given), and in the same pass sigmoid(ℓ) − x
    /// into `logitGradient` (what backward needs), reusing e^(−|ℓ|): one `exp` and one `log` per pixel. The per-pixel loop vectorizes (it
    /// writes each pixel's loss to `scratch`); each row is then summed in a fixed SIMD order in float, the row
    /// sums in double. log(1 + e) is computed as log(u) − ((u − 1) − e)/u with u = 1 + e, which keeps log1p's
    /// accuracy for tiny e with the vectorizable `log`.
    /// On a CPU with AVX2 the per-pixel loop runs as CKernels' eight-lane copy of ``perPixel(logits:targets:count:logitGradient:loss:)``.
    @inlinable
    public static func forward(
        logits: UnsafePointer<Float>, targets: UnsafePointer<Float>, rows: Int, width: Int,
        logitGradient: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        rowSums: UnsafeMutablePointer<Double>? = nil
    ) -> Double {
        let count = rows * width
        if vae_bernoulli_nll_avx2(logits, targets, count, logitGradient, scratch) == 0 {
            perPixel(logits: logits, targets: targets, count: count, logitGradient: logitGradient, loss: scratch)
        }
        var sum: Double = 0
        for row in 0..<rows {
            let rowSum = Double(simdSum(scratch + row * width, count: width))
            rowSums?[row] = rowSum
            sum += rowSum
        }
        return sum
    }

    /// Each pixel's loss into `loss` and sigmoid(ℓ) − x into `logitGradient` (the portable loop; it vectorizes).
    @inlinable
    public static func perPixel(
        logits: UnsafePointer<Float>, targets: UnsafePointer<Float>, count: Int,
        logitGradient: UnsafeMutablePointer<Float>, loss: UnsafeMutablePointer<Float>
    ) {
        for j in 0..<count {
            let l = logits[j], x = targets[j]
            let e = expf(-abs(l))
            let u = 1 + e
            loss[j] = max(l, 0) - x * l + (logf(u) - ((u - 1) - e) / u)
            logitGradient[j] = (l >= 0 ? 1 : e) / u - x
        }
    }
}

/// Σ values[0..<count] in float, in a fixed order: eight lanes, then the lanes, then the tail.
@inlinable
public func simdSum(_ values: UnsafePointer<Float>, count: Int) -> Float {
    var lanes = SIMD8<Float>()
    var j = 0
    while j + 8 <= count {
        lanes += UnsafeRawPointer(values + j).loadUnaligned(as: SIMD8<Float>.self)
        j += 8
    }
    var total = lanes.sum()
    while j < count { total += values[j]; j += 1 }
    return total
}

/// Gaussian likelihood with mean m (the decoder output) and per-pixel log-variance s:
/// −log p(x|m, s) = ½ [log 2π + s + (x − m)² e^(−s)], with ∂/∂m = (m − x) e^(−s) and ∂/∂s = ½ (1 − (x − m)² e^(−s)).
public enum GaussianNLL {
    public static let logTwoPi: Float = 1.8378770664093453

    /// The summed negative log-likelihood; `logVariance` has one entry per pixel, shared by every row. When
    /// `meanGradient` is given (training) the same pass writes ∂/∂m into it, and, when `logVarianceGradient` is
    /// given (learned variance), ∂/∂s summed over rows; row r's gradients scaled by `rowWeights[r]` when given, its
    /// sum into `rowSums[r]`.
    @inlinable
    public static func forward(
        means: UnsafePointer<Float>, targets: UnsafePointer<Float>,
        logVariance: UnsafePointer<Float>, rows: Int, width: Int,
        meanGradient: UnsafeMutablePointer<Float>? = nil,
        logVarianceGradient: UnsafeMutablePointer<Float>? = nil,
        rowSums: UnsafeMutablePointer<Double>? = nil, rowWeights: UnsafePointer<Float>? = nil
    ) -> Double {
        var sum: Double = 0
        logVarianceGradient?.update(repeating: 0, count: width)
        for row in 0..<rows {
            let m = means + row * width, x = targets + row * width
            let weight = rowWeights?[row] ?? 1
            var rowSum: Float = 0
            for j in 0..<width {
                let precision = expf(-logVariance[j])
                let d = m[j] - x[j]
                rowSum += 0.5 * (logTwoPi + logVariance[j] + d * d * precision)
                if rowWeights == nil {
                    meanGradient?[row * width + j] = d * precision
                    logVarianceGradient?[j] += 0.5 * (1 - d * d * precision)
                } else {
                    meanGradient?[row * width + j] = weight * (d * precision)
                    logVarianceGradient?[j] += weight * (0.5 * (1 - d * d * precision))
                }
            }
            rowSums?[row] = Double(rowSum)
            sum += Double(rowSum)
        }
        return sum
    }
}
