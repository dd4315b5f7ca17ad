#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The nonlinearity of the MLP shorthand (`model.activation`), between its linear layers.
public enum Activation: String, CaseIterable, Sendable, Codable {
    case relu
    case tanh

    /// The layer it stands for.
    public var function: ActivationFunction {
        switch self {
        case .relu: return .relu
        case .tanh: return .tanh
        }
    }
}

/// An element-wise activation layer (`relu`, `leaky_relu` with its slope, `silu`, `elu`, `tanh`, `sigmoid`), shape
/// kept. Forward and backward side by side; backward overwrites the gradient it is given, in place:
///
///     relu: max(x, 0), ' = [y > 0]          leaky_relu: x > 0 ? x : a·x, ' = y > 0 ? 1 : a   (a > 0)
///     tanh: ' = 1 − y²                      sigmoid: 1 / (1 + e^(−x)), ' = y (1 − y)
///     elu: x > 0 ? x : e^x − 1, ' = y > 0 ? 1 : y + 1
///     silu: x·sigmoid(x), ' = s (1 + x (1 − s)) with s = sigmoid(x) — from the input x, so silu keeps it
public enum ActivationFunction: Equatable, Sendable {
    case relu
    case leakyRelu(slope: Float)
    case silu
    case elu
    case tanh
    case sigmoid

    /// Whether backward needs the layer's input (else its output suffices, and forward may overwrite its input).
    public var backwardNeedsInput: Bool { self == .silu }

    /// `output[i] = f(input[i])`; `output` may be `input` (then the loops are the in-place ones, whose
    /// vectorization, libmvec's tanhf included, the MLP's bits were made with).
    @inlinable
    public func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, count: Int) {
        if UnsafePointer(output) == input {
            forward(inPlace: output, count: count)
            return
        }
        switch self {
        case .relu: for i in 0..<count { output[i] = max(input[i], 0) }
        case .leakyRelu(let slope): for i in 0..<count { output[i] = input[i] > 0 ? input[i] : slope * input[i] }
        case .silu: for i in 0..<count { output[i] = input[i] / (1 + expf(-input[i])) }
        case .elu: for i in 0..<count { output[i] = input[i] > 0 ? input[i] : expm1f(input[i]) }
        case .tanh: for i in 0..<count { output[i] = tanhf(input[i]) }
        case .sigmoid: for i in 0..<count { output[i] = 1 / (1 + expf(-input[i])) }
        }
    }

    /// In place: values[i] = f(values[i]).
    @inlinable
    public func forward(inPlace values: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .relu: for i in 0..<count { values[i] = max(values[i], 0) }
        case .leakyRelu(let slope): for i in 0..<count { values[i] = values[i] > 0 ? values[i] : slope * values[i] }
        case .silu: for i in 0..<count { values[i] = values[i] / (1 + expf(-values[i])) }
        case .elu: for i in 0..<count { values[i] = values[i] > 0 ? values[i] : expm1f(values[i]) }
        case .tanh: for i in 0..<count { values[i] = tanhf(values[i]) }
        case .sigmoid: for i in 0..<count { values[i] = 1 / (1 + expf(-values[i])) }
        }
    }

    /// In place on `gradient`: ∂/∂x from ∂/∂y, given the forward's `output` y (and its `input` x for silu).
    @inlinable
    public func backward(
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>, count: Int
    ) {
        switch self {
        case .relu:
            for i in 0..<count {
                let g = gradient[i]  // loaded unconditionally so the select vectorizes
                gradient[i] = output[i] > 0 ? g : 0
            }
        case .leakyRelu(let slope):
            for i in 0..<count {
                let g = gradient[i]
                gradient[i] = output[i] > 0 ? g : slope * g
            }
        case .silu:
            for i in 0..<count {
                let s = 1 / (1 + expf(-input[i]))
                gradient[i] *= s * (1 + input[i] * (1 - s))
            }
        case .elu:
            for i in 0..<count {
                let g = gradient[i]
                gradient[i] = output[i] > 0 ? g : g * (output[i] + 1)
            }
        case .tanh: for i in 0..<count { gradient[i] *= 1 - output[i] * output[i] }
        case .sigmoid: for i in 0..<count { gradient[i] *= output[i] * (1 - output[i]) }
        }
    }
}
