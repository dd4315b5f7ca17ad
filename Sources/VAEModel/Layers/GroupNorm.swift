/// Group normalization, as `nn.GroupNorm(groups, C)` (ε = 1e-5, a learned scale γ `[C]` and shift β `[C]`): for each
/// sample and each group of C/G channels, over its m = (C/G)·H·W values
///
///     x̂ = (x − μ) / √(σ² + ε)        y = γ[c]·x̂ + β[c]          (μ, σ² the group's mean and biased variance)
///     dβ += Σ dy      dγ += Σ dy·x̂      dx = (g − mean(g) − x̂·mean(g·x̂)) / √(σ² + ε),  g = γ[c]·dy
///
/// Statistics are per sample, so a batch split over ranks gives the same values (BatchNorm is left out for that
/// reason). Sums in double precision. `statistics` keeps (μ, 1/√(σ² + ε)) per sample and group for backward:
/// `[batch, groups, 2]` floats. Gradient rule: γ's and β's gradients accumulate when `accumulate`, else are
/// overwritten; the input gradient is overwritten.
public enum GroupNorm {
    public static let epsilon = 1e-5

    @inlinable
    public static func forward(
        input: UnsafePointer<Float>, scale: UnsafePointer<Float>, shift: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, statistics: UnsafeMutablePointer<Float>, batch: Int, channels: Int,
        planeSize: Int, groups: Int
    ) {
        let perGroup = channels / groups, m = perGroup * planeSize
        for n in 0..<batch {
            for g in 0..<groups {
                let start = (n * channels + g * perGroup) * planeSize
                var sum = 0.0
                for i in 0..<m { sum += Double(input[start + i]) }
                let mean = sum / Double(m)
                var squares = 0.0
                for i in 0..<m {
                    let d = Double(input[start + i]) - mean
                    squares += d * d
                }
                let rstd = 1 / (squares / Double(m) + epsilon).squareRoot()
                statistics[2 * (n * groups + g)] = Float(mean)
                statistics[2 * (n * groups + g) + 1] = Float(rstd)
                for c in 0..<perGroup {
                    let channel = g * perGroup + c
                    let (gamma, beta) = (Double(scale[channel]), Double(shift[channel]))
                    let plane = start + c * planeSize
                    for i in 0..<planeSize {
                        output[plane + i] = Float((Double(input[plane + i]) - mean) * rstd * gamma + beta)
                    }
                }
            }
        }
    }

    @inlinable
    public static func backward(
        input: UnsafePointer<Float>, scale: UnsafePointer<Float>, statistics: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, scaleGradient: UnsafeMutablePointer<Float>,
        shiftGradient: UnsafeMutablePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?, batch: Int,
        channels: Int, planeSize: Int, groups: Int, accumulate: Bool
    ) {
        let perGroup = channels / groups, m = perGroup * planeSize
        if !accumulate {
            scaleGradient.update(repeating: 0, count: channels)
            shiftGradient.update(repeating: 0, count: channels)
        }
        for n in 0..<batch {
            for g in 0..<groups {
                let start = (n * channels + g * perGroup) * planeSize
                let mean = Double(statistics[2 * (n * groups + g)]), rstd = Double(statistics[2 * (n * groups + g) + 1])
                var sumG = 0.0, sumGX = 0.0
                for c in 0..<perGroup {
                    let channel = g * perGroup + c
                    let gamma = Double(scale[channel])
                    let plane = start + c * planeSize
                    var dGamma = 0.0, dBeta = 0.0
                    for i in 0..<planeSize {
                        let dy = Double(outputGradient[plane + i]), xHat = (Double(input[plane + i]) - mean) * rstd
                        dGamma += dy * xHat
                        dBeta += dy
                        sumG += dy * gamma
                        sumGX += dy * gamma * xHat
                    }
                    scaleGradient[channel] += Float(dGamma)
                    shiftGradient[channel] += Float(dBeta)
                }
                guard let inputGradient else { continue }
                let (meanG, meanGX) = (sumG / Double(m), sumGX / Double(m))
                for c in 0..<perGroup {
                    let gamma = Double(scale[g * perGroup + c])
                    let plane = start + c * planeSize
                    for i in 0..<planeSize {
                        let xHat = (Double(input[plane + i]) - mean) * rstd
                        let gradient = Double(outputGradient[plane + i]) * gamma
                        inputGradient[plane + i] = Float((gradient - meanG - xHat * meanGX) * rstd)
                    }
                }
            }
        }
    }
}
