import CBLAS
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Each op is a `forward` and a `backward` side by side, in the manner of llm.c. Tensors are row-major
// `[batch, features]`; forward keeps (in the caller's workspace) what backward needs; backward *overwrites*
// the parameter gradients it owns and the input gradient it is given.

/// Fully connected layer: y = x·Wᵀ + b, W stored `[out, in]` as `nn.Linear` does.
public enum Linear {
    /// y[b, o] = b[o] + Σᵢ x[b, i]·W[o, i] — the bias is copied into y first, then one `cblas_sgemm`
    /// with β = 1 adds x·Wᵀ, so bias-add costs no extra pass.
    @inlinable
    public static func forward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                               output: UnsafeMutablePointer<Float>, batch: Int, inputSize: Int, outputSize: Int) {
        for row in 0..<batch { (output + row * outputSize).update(from: bias, count: outputSize) }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(batch), Int32(outputSize), Int32(inputSize),
                    1, input, Int32(inputSize), weight, Int32(inputSize), 1, output, Int32(outputSize))
    }

    /// dW = dyᵀ·x, db = Σ_b dy[b, ·], dx = dy·W (skipped when `inputGradient` is nil, e.g. for the first layer).
    @inlinable
    public static func backward(input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                outputGradient: UnsafePointer<Float>,
                                weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>,
                                inputGradient: UnsafeMutablePointer<Float>?, batch: Int, inputSize: Int, outputSize: Int) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(outputSize), Int32(inputSize), Int32(batch),
                    1, outputGradient, Int32(outputSize), input, Int32(inputSize), 0, weightGradient, Int32(inputSize))
        biasGradient.update(repeating: 0, count: outputSize)
        for row in 0..<batch {
            let dy = outputGradient + row * outputSize
            for o in 0..<outputSize { biasGradient[o] += dy[o] }
        }
        if let inputGradient {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(batch), Int32(inputSize), Int32(outputSize),
                        1, outputGradient, Int32(outputSize), weight, Int32(inputSize), 0, inputGradient, Int32(inputSize))
        }
    }
}

extension Activation {
    /// In place: relu(a) = max(a, 0); tanh(a).
    @inlinable
    public func forward(_ values: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .relu: for i in 0..<count { values[i] = max(values[i], 0) }
        case .tanh: for i in 0..<count { values[i] = tanhf(values[i]) }
        }
    }

    /// In place on the gradient, from the forward's *output* y: relu' = [y > 0]; tanh' = 1 − y².
    @inlinable
    public func backward(output: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .relu: for i in 0..<count where output[i] <= 0 { gradient[i] = 0 }
        case .tanh: for i in 0..<count { gradient[i] *= 1 - output[i] * output[i] }
        }
    }
}

/// The reparameterization trick: z = μ + σ ⊙ ε with σ = exp(½ log σ²) and ε ~ N(0, I) given.
public enum Reparameterization {
    /// Writes σ (kept for backward) and z.
    @inlinable
    public static func forward(mean: UnsafePointer<Float>, logVariance: UnsafePointer<Float>,
                               epsilon: UnsafePointer<Float>, standardDeviation: UnsafeMutablePointer<Float>,
                               latent: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let sigma = expf(0.5 * logVariance[i])
            standardDeviation[i] = sigma
            latent[i] = mean[i] + sigma * epsilon[i]
        }
    }

    /// ∂z/∂μ = 1, ∂z/∂log σ² = ½ σ ε: *adds* dz into dμ and ½ σ ε dz into d log σ².
    @inlinable
    public static func backward(latentGradient: UnsafePointer<Float>, epsilon: UnsafePointer<Float>,
                                standardDeviation: UnsafePointer<Float>,
                                meanGradient: UnsafeMutablePointer<Float>, logVarianceGradient: UnsafeMutablePointer<Float>,
                                count: Int) {
        for i in 0..<count {
            meanGradient[i] += latentGradient[i]
            logVarianceGradient[i] += 0.5 * latentGradient[i] * standardDeviation[i] * epsilon[i]
        }
    }
}

/// KL(N(μ, σ²) ‖ N(0, 1)) in closed form, summed: −½ Σ (1 + log σ² − μ² − σ²).
public enum GaussianKL {
    /// Returns the sum over all `count` elements (double accumulation). `standardDeviation` is σ from the
    /// reparameterization's forward, so σ² costs no extra `exp`.
    @inlinable
    public static func forward(mean: UnsafePointer<Float>, logVariance: UnsafePointer<Float>,
                               standardDeviation: UnsafePointer<Float>, count: Int) -> Double {
        var sum: Double = 0
        for i in 0..<count {
            let variance = standardDeviation[i] * standardDeviation[i]
            sum += Double(-0.5 * (1 + logVariance[i] - mean[i] * mean[i] - variance))
        }
        return sum
    }

    /// ∂/∂μ = μ, ∂/∂log σ² = ½ (σ² − 1); scaled by `weight` (β) and *written* (not added).
    @inlinable
    public static func backward(mean: UnsafePointer<Float>, standardDeviation: UnsafePointer<Float>, weight: Float,
                                meanGradient: UnsafeMutablePointer<Float>, logVarianceGradient: UnsafeMutablePointer<Float>,
                                count: Int) {
        for i in 0..<count {
            meanGradient[i] = weight * mean[i]
            logVarianceGradient[i] = weight * 0.5 * (standardDeviation[i] * standardDeviation[i] - 1)
        }
    }
}

/// Bernoulli likelihood on logits ℓ, the stable binary cross-entropy for targets x ∈ [0, 1]:
/// −log p(x|ℓ) = softplus(ℓ) − x·ℓ = max(ℓ, 0) − x·ℓ + log(1 + e^(−|ℓ|)).
public enum BernoulliNLL {
    /// The summed negative log-likelihood (double accumulation per row).
    @inlinable
    public static func forward(logits: UnsafePointer<Float>, targets: UnsafePointer<Float>, count: Int) -> Double {
        var sum: Double = 0
        for i in 0..<count {
            let l = logits[i]
            sum += Double(max(l, 0) - targets[i] * l + log1pf(expf(-abs(l))))
        }
        return sum
    }

    /// ∂/∂ℓ = sigmoid(ℓ) − x, written into `logitGradient`.
    @inlinable
    public static func backward(logits: UnsafePointer<Float>, targets: UnsafePointer<Float>,
                                logitGradient: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            logitGradient[i] = 1 / (1 + expf(-logits[i])) - targets[i]
        }
    }
}

/// Gaussian likelihood with mean m (the decoder output) and per-pixel log-variance s:
/// −log p(x|m, s) = ½ [log 2π + s + (x − m)² e^(−s)].
public enum GaussianNLL {
    public static let logTwoPi: Float = 1.8378770664093453

    /// `logVariance` has one entry per pixel (`inputSize`), shared by every row of the batch.
    @inlinable
    public static func forward(means: UnsafePointer<Float>, targets: UnsafePointer<Float>,
                               logVariance: UnsafePointer<Float>, batch: Int, inputSize: Int) -> Double {
        var sum: Double = 0
        for row in 0..<batch {
            let m = means + row * inputSize, x = targets + row * inputSize
            for j in 0..<inputSize {
                let d = x[j] - m[j]
                sum += Double(0.5 * (logTwoPi + logVariance[j] + d * d * expf(-logVariance[j])))
            }
        }
        return sum
    }

    /// ∂/∂m = (m − x) e^(−s) written into `meanGradient`; ∂/∂s = ½ Σ_b (1 − (x − m)² e^(−s)) written into
    /// `logVarianceGradient` when given (learned variance).
    @inlinable
    public static func backward(means: UnsafePointer<Float>, targets: UnsafePointer<Float>,
                                logVariance: UnsafePointer<Float>, meanGradient: UnsafeMutablePointer<Float>,
                                logVarianceGradient: UnsafeMutablePointer<Float>?, batch: Int, inputSize: Int) {
        logVarianceGradient?.update(repeating: 0, count: inputSize)
        for row in 0..<batch {
            let m = means + row * inputSize, x = targets + row * inputSize, dm = meanGradient + row * inputSize
            for j in 0..<inputSize {
                let precision = expf(-logVariance[j])
                let d = m[j] - x[j]
                dm[j] = d * precision
                logVarianceGradient?[j] += 0.5 * (1 - d * d * precision)
            }
        }
    }
}
