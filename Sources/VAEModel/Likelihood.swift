#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// Everything a likelihood p(x|z) is, in one place: its NLL and gradient (the ops in Ops.swift), its extra
// parameters, its mean image, its name, its configuration spelling and what it adds to the trajectory hash.
// A new likelihood is one case here (the compiler then points at each switch below) and its tests.

/// How the decoder's Gaussian likelihood gets its variance.
public enum GaussianVariance: Equatable, Sendable {
    /// One fixed variance σ² for every pixel.
    case fixed(Float)
    /// One learned log-variance per pixel, a parameter tensor named `x_logvar`.
    case learned
}

/// The decoder's likelihood p(x|z).
public enum Likelihood: Equatable, Sendable {
    /// Bernoulli on logits: −log p(x|z) = Σ softplus(ℓ) − x·ℓ (binary cross-entropy on grey levels).
    case bernoulli
    /// Gaussian with mean = decoder output: −log p(x|z) = ½ Σ [log 2π + log σ² + (x − μ)²/σ²].
    case gaussian(GaussianVariance)

    /// The spellings of `model.likelihood`.
    public static let names = ["bernoulli", "gaussian"]

    /// The likelihood `model.likelihood: name` gives, with the Gaussian's `model.gaussian_variance` setting; nil
    /// for an unknown name.
    public init?(name: String, gaussianVariance: GaussianVariance) {
        switch name {
        case "bernoulli": self = .bernoulli
        case "gaussian": self = .gaussian(gaussianVariance)
        default: return nil
        }
    }

    /// Its `model.likelihood` spelling.
    public var name: String {
        switch self {
        case .bernoulli: return "bernoulli"
        case .gaussian: return "gaussian"
        }
    }

    /// For logs: `bernoulli`, `gaussian (learned variance)`, `gaussian (variance 0.1)`.
    public var describe: String {
        switch self {
        case .bernoulli: return "bernoulli"
        case .gaussian(.learned): return "gaussian (learned variance)"
        case .gaussian(.fixed(let v)): return "gaussian (variance \(v))"
        }
    }

    /// Its keys in the trajectory JSON (`model.likelihood` and its settings), as (key, JSON value).
    public var trajectoryFields: [(String, String)] {
        switch self {
        case .bernoulli: return [("likelihood", "\"bernoulli\"")]
        case .gaussian(let variance):
            let value: String
            if case .fixed(let x) = variance { value = "\(x)" } else { value = "\"learned\"" }
            return [("gaussian_variance", value), ("likelihood", "\"gaussian\"")]
        }
    }

    /// Buffers the size of the decoder's output that the memory estimate counts per pixel: the mean (logits), and
    /// for a Gaussian its variance too.
    public var outputBuffersPerPixel: Int {
        switch self {
        case .bernoulli: return 1
        case .gaussian: return 2
        }
    }

    /// Whether it models binary targets as well as grey levels (the binarizations make sense only then).
    public var acceptsBinarizedTargets: Bool {
        switch self {
        case .bernoulli: return true
        case .gaussian: return false
        }
    }

    /// Whether it has a learned per-pixel log-variance (the `x_logvar` tensor, after the decoder in the layout).
    public var learnsOutputLogVariance: Bool {
        if case .gaussian(.learned) = self { return true }
        return false
    }

    /// The per-pixel log-variance when it is fixed (0 where there is none).
    var fixedOutputLogVariance: Float {
        if case .gaussian(.fixed(let variance)) = self { return logf(variance) }
        return 0
    }

    /// The mean of p(x|z) for one decoder output: sigmoid of the logit, or the Gaussian's mean itself.
    @inlinable
    public func mean(ofOutput output: Float) -> Float {
        switch self {
        case .bernoulli: return 1 / (1 + expf(-output))
        case .gaussian: return output
        }
    }

    /// Σ −log p(x|z) over `rows` rows of `model`'s decoder output from `firstRow`, against the same rows of its
    /// input. With `gradients` (training, rows from 0) the same pass writes ∂/∂output into the model's output
    /// gradient and any parameter gradient of its own into `gradients`.
    func negativeLogLikelihood(_ model: VariationalAutoencoder, firstRow: Int, rows: Int, gradients: FlatBuffer?) -> Double {
        let width = model.layout.architecture.inputSize
        let output = model.output + firstRow * width, targets = model.input + firstRow * width
        switch self {
        case .bernoulli:
            // activationGradient is where backward starts; the spare is free until then (per-pixel losses).
            return BernoulliNLL.forward(
                logits: output, targets: targets, rows: rows, width: width,
                logitGradient: model.activationGradient, scratch: model.spareActivationGradient)
        case .gaussian:
            return GaussianNLL.forward(
                means: output, targets: targets, logVariance: model.outputLogVariance, rows: rows, width: width,
                meanGradient: gradients == nil ? nil : model.activationGradient,
                logVarianceGradient: gradients.flatMap { buffer in model.layout.outputLogVariance.map { buffer.pointer(to: $0) } }
            )
        }
    }
}
