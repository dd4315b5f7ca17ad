#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import VAESettings

/// The VampPrior (Tomczak & Welling 2018): the mixture of the encoder's posteriors at K learned pseudo-inputs u_j,
///
///     p(z) = (1/K) Σ_j N(z; μ(u_j), σ²(u_j)),     log p(z) = logsumexp_j a_j(z) − log K,
///     a_j(z) = Σ_d −½ [log 2π + log σ²_jd + (z_d − μ_jd)² / σ²_jd],   γ_j = softmax_j a_j(z)
///     ∂(−log p)/∂z = Σ_j γ_j (z − μ_j)/σ²_j,  ∂(−log p)/∂μ_j = −γ_j (z − μ_j)/σ²_j,
///     ∂(−log p)/∂log σ²_j = ½ γ_j (1 − (z − μ_j)²/σ²_j)
///
/// The pseudo-inputs are a model tensor `prior.pseudo_inputs` `[K, input shape…]`, starting at 0.05 ± 0.01 (a dim
/// picture) from a stream keyed by the seed; every encoder pass runs them after the batch's rows, so the gradients
/// above flow through the encoder into its weights and into u. Its KL has no closed form: the objectives estimate it
/// by Monte Carlo, log q(z|x) − log p(z) at the sampled z (the paper's estimator). Sums in double.
public struct VampPrior: PriorKind {
    public static let name = "vamp"

    /// `model.pseudo_inputs`: K, the number of mixture components.
    public static let pseudoInputs = Setting<Int>(
        "model.pseudo_inputs", default: 500, min: 1, help: "the VampPrior's number of learned pseudo-inputs (components)")
    public static let settings = [pseudoInputs.erased]

    public let components: Int
    public init(settings: SettingValues) { components = settings[VampPrior.pseudoInputs] }

    public var describe: String { "vamp (\(components) pseudo-inputs)" }
    public func tensorShapes(inputShape: [Int]) -> [(name: String, shape: [Int])] {
        [("prior.pseudo_inputs", [components] + inputShape)]
    }
    public var encoderRows: Int { components }

    public func initialize(_ parameters: FlatBuffer, tensors: [TensorView], seed: UInt64) {
        for view in tensors {
            var stream = RandomStream(seed: seed, purpose: .pseudoInputs)
            let p = parameters.pointer(to: view)
            stream.fillStandardNormal(p, count: view.count)
            for i in 0..<view.count { p[i] = 0.05 + 0.01 * p[i] }
        }
    }

    public func fillEncoderRows(_ model: VariationalAutoencoder, at rows: UnsafeMutablePointer<Float>) {
        guard let view = model.layout.priorTensors.first else { return }
        rows.update(from: model.parameters.pointer(to: view), count: view.count)
    }

    public func logDensity(
        _ model: VariationalAutoencoder, batch: Int, latent: UnsafePointer<Float>, rows: Int,
        into logDensities: UnsafeMutablePointer<Double>, weights: UnsafePointer<Float>?,
        latentGradient: UnsafeMutablePointer<Float>
    ) {
        let width = model.layout.architecture.latentSize, count = components
        let means = model.mean + batch * width, logVariances = model.logVariance + batch * width
        // Scratch: each component's precisions [K, width] and constant, and the current row's a_j.
        let precision = model.priorScratch, constant = precision + count * width, a = constant + count
        for j in 0..<count {
            var c = 0.0
            for d in 0..<width {
                let lv = Double(logVariances[j * width + d])
                precision[j * width + d] = scalarExp(-lv)
                c -= 0.5 * (Double(GaussianNLL.logTwoPi) + lv)
            }
            constant[j] = c
        }
        if weights != nil {
            let gradientRows = count * width
            (model.meanGradient + batch * width).update(repeating: 0, count: gradientRows)
            (model.logVarianceGradient + batch * width).update(repeating: 0, count: gradientRows)
        }
        let logCount = log(Double(count))
        for r in 0..<rows {
            let z = latent + r * width
            var largest = -Double.infinity
            for j in 0..<count {
                var squares = 0.0
                for d in 0..<width {
                    let difference = Double(z[d]) - Double(means[j * width + d])
                    squares += difference * difference * precision[j * width + d]
                }
                a[j] = constant[j] - 0.5 * squares
                largest = max(largest, a[j])
            }
            var total = 0.0
            for j in 0..<count { total += scalarExp(a[j] - largest) }
            let logSum = largest + log(total)
            logDensities[r] = logSum - logCount
            guard let weights else { continue }
            let w = Double(weights[r]), g = latentGradient + r * width
            for d in 0..<width { g[d] = 0 }
            for j in 0..<count {
                let responsibility = scalarExp(a[j] - logSum)
                guard responsibility > 0 else { continue }
                let meanRow = model.meanGradient + (batch + j) * width
                let logVarianceRow = model.logVarianceGradient + (batch + j) * width
                for d in 0..<width {
                    let difference = Double(z[d]) - Double(means[j * width + d])
                    let scaled = difference * precision[j * width + d]
                    let pull = w * responsibility * scaled
                    g[d] += Float(pull)
                    meanRow[d] -= Float(pull)
                    logVarianceRow[d] += Float(0.5 * w * responsibility * (1 - scaled * difference))
                }
            }
        }
    }

    public func sample(_ model: VariationalAutoencoder, count: Int, seed: UInt64, into latent: UnsafeMutablePointer<Float>) {
        let width = model.layout.architecture.latentSize
        for k in 0..<count {
            var stream = RandomStream(seed: seed, purpose: .prior, index: UInt64(k))
            let j = stream.nextIndex(below: components)
            let z = latent + k * width
            stream.fillStandardNormal(z, count: width)
            for d in 0..<width {
                let row = (j * width) + d  // the component's μ and log σ², after the (empty) batch's rows
                z[d] = model.mean[row] + expf(0.5 * model.logVariance[row]) * z[d]
            }
        }
    }

    /// Doubles of scratch ``logDensity(_:batch:latent:rows:into:weights:latentGradient:)`` uses.
    public func scratchSize(latentSize: Int) -> Int { components * (latentSize + 2) }
}
