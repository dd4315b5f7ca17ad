import VAESettings

/// One layer of an encoder or decoder list, as the configuration names it (`{"conv2d": {"out": 32, "kernel": 4,
/// "stride": 2, "padding": 1}}`, `"relu"`, `{"unflatten": [64, 7, 7]}`), and the shape it turns an input shape into.
/// Its forward and backward are its op pair's, each in its own file (Linear, Conv2d, ConvTranspose2d, GroupNorm,
/// ActivationFunction); flatten and unflatten only rename the shape of the same values.
public enum Layer: Equatable, Sendable {
    case linear(out: Int)
    case conv2d(out: Int, kernel: Int, stride: Int, padding: Int)
    case convTranspose2d(out: Int, kernel: Int, stride: Int, padding: Int, outputPadding: Int)
    case activation(ActivationFunction)
    case flatten
    case unflatten([Int])
    /// GroupNorm over `groups` groups of channels, per sample (never across the batch: the same result however a
    /// batch is split over ranks), with a learned scale and shift per channel.
    case groupNorm(groups: Int)

    /// Whether it has a weight and a bias.
    public var hasParameters: Bool {
        switch self {
        case .linear, .conv2d, .convTranspose2d, .groupNorm: return true
        case .activation, .flatten, .unflatten: return false
        }
    }

    /// The shape it gives `input` (`[D]` or `[C, H, W]`), or why it cannot take it.
    public func outputShape(for input: [Int]) -> Result<[Int], LayerShapeError> {
        let count = elementCount(input)
        func fail(_ needs: String) -> Result<[Int], LayerShapeError> { .failure(LayerShapeError(input: input, needs: needs)) }
        switch self {
        case .linear(let out):
            guard input.count == 1 else { return fail("a flat [D] input (put \"flatten\" before it)") }
            return .success([out])
        case .conv2d(let out, let kernel, let stride, let padding):
            guard input.count == 3 else { return fail("a [C, H, W] input (put {\"unflatten\": [C, H, W]} before it)") }
            guard
                let g = ConvGeometry(
                    channels: input[0], height: input[1], width: input[2], kernel: kernel, stride: stride, padding: padding)
            else { return fail("an input of at least kernel − 2·padding = \(kernel - 2 * padding) pixels a side") }
            return .success([out, g.outputHeight, g.outputWidth])
        case .convTranspose2d(let out, let kernel, let stride, let padding, let outputPadding):
            guard input.count == 3 else { return fail("a [C, H, W] input (put {\"unflatten\": [C, H, W]} before it)") }
            guard outputPadding < stride else { return fail("output_padding below the stride") }
            let height = (input[1] - 1) * stride - 2 * padding + kernel + outputPadding
            let width = (input[2] - 1) * stride - 2 * padding + kernel + outputPadding
            guard height > 0 && width > 0 else { return fail("an output of at least one pixel (it gives \(height)×\(width))") }
            return .success([out, height, width])
        case .activation:
            return .success(input)
        case .flatten:
            return .success([count])
        case .unflatten(let shape):
            let product = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
            guard product == count else { return fail("\(count) values to be \(shape) (\(product))") }
            return .success(shape)
        case .groupNorm(let groups):
            guard input.count == 3 else { return fail("a [C, H, W] input") }
            guard input[0] % groups == 0 else { return fail("channels divisible by \(groups) groups") }
            return .success(input)
        }
    }
}

/// Why a layer cannot take its input shape.
public struct LayerShapeError: Error, Equatable, Sendable {
    public let input: [Int]
    public let needs: String
}

extension Layer {
    /// The activations a list names by a bare string (`leaky_relu` with slope 0.01, PyTorch's default).
    static let bareNames: [String: Layer] = [
        "relu": .activation(.relu), "leaky_relu": .activation(.leakyRelu(slope: 0.01)), "silu": .activation(.silu),
        "elu": .activation(.elu), "tanh": .activation(.tanh), "sigmoid": .activation(.sigmoid), "flatten": .flatten,
    ]
    /// The largest size, kernel, stride or padding a layer takes (far beyond any model; products stay in range).
    public static let largestSize = 1 << 24
    static let objectNames = ["linear", "conv2d", "conv_transpose2d", "leaky_relu", "unflatten", "group_norm"]

    /// Reads one entry of `model.encoder` or `model.decoder`: a name (`"relu"`, `"flatten"`) or an object with one
    /// key (`{"conv2d": {"out": 32, "kernel": 4, "stride": 2, "padding": 1}}`, `{"unflatten": [64, 7, 7]}`); an
    /// error names the entry (`model.encoder[3]`) and what it accepts.
    public init(_ v: ConfigValue) throws {
        if let name = v.value as? String {
            guard let layer = Layer.bareNames[name] else {
                throw v.error(
                    "unknown layer \"\(name)\"; a name is one of \(Layer.bareNames.keys.sorted()), an object one of \(Layer.objectNames)"
                )
            }
            self = layer
            return
        }
        guard let object = v.value as? [String: Any], object.count == 1, let (kind, body) = object.first else {
            throw v.error("must be a layer name such as \"relu\" or an object with one key such as {\"linear\": {\"out\": 256}}")
        }
        let inner = ConfigValue(key: "\(v.key).\(kind)", value: body)
        /// The object's fields, each checked; unknown ones refused.
        func fields(_ allowed: [String]) throws -> [String: ConfigValue] {
            guard let table = body as? [String: Any] else { throw inner.error("must be an object of \(allowed)") }
            if let unknown = table.keys.sorted().first(where: { !allowed.contains($0) }) {
                throw inner.error("unknown field \"\(unknown)\"; expected \(allowed)")
            }
            return table.reduce(into: [:]) { $0[$1.key] = ConfigValue(key: "\(inner.key).\($1.key)", value: $1.value) }
        }
        func integer(_ f: [String: ConfigValue], _ name: String, default value: Int? = nil, min: Int) throws -> Int {
            guard let given = f[name] else {
                guard let value else { throw inner.error("needs \"\(name)\"") }
                return value
            }
            let n = try given.integer(min: min)
            guard n <= Layer.largestSize else { throw given.error("must be at most \(Layer.largestSize), got \(n)") }
            return n
        }
        switch kind {
        case "linear":
            let f = try fields(["out"])
            self = .linear(out: try integer(f, "out", min: 1))
        case "conv2d":
            let f = try fields(["out", "kernel", "stride", "padding"])
            self = .conv2d(
                out: try integer(f, "out", min: 1), kernel: try integer(f, "kernel", min: 1),
                stride: try integer(f, "stride", default: 1, min: 1), padding: try integer(f, "padding", default: 0, min: 0))
        case "conv_transpose2d":
            let f = try fields(["out", "kernel", "stride", "padding", "output_padding"])
            self = .convTranspose2d(
                out: try integer(f, "out", min: 1), kernel: try integer(f, "kernel", min: 1),
                stride: try integer(f, "stride", default: 1, min: 1), padding: try integer(f, "padding", default: 0, min: 0),
                outputPadding: try integer(f, "output_padding", default: 0, min: 0))
        case "leaky_relu":
            let f = try fields(["slope"])
            self = .activation(.leakyRelu(slope: try f["slope"].map { try $0.float(above: 0) } ?? 0.01))
        case "group_norm":
            let f = try fields(["groups"])
            self = .groupNorm(groups: try integer(f, "groups", min: 1))
        case "unflatten":
            let shape = try inner.integers(min: 1)
            guard shape.allSatisfy({ $0 <= Layer.largestSize }) else {
                throw inner.error("sizes must be at most \(Layer.largestSize)")
            }
            guard (1...3).contains(shape.count) else { throw inner.error("must be a shape of 1 to 3 sizes, such as [64, 7, 7]") }
            self = .unflatten(shape)
        default:
            throw v.error("unknown layer \"\(kind)\"; an object is one of \(Layer.objectNames)")
        }
    }

    /// Its JSON, canonical (keys sorted, every field given): what `config.json` and the trajectory hash hold.
    public var json: String {
        func object(_ kind: String, _ fields: [(String, Int)]) -> String {
            "{\"\(kind)\":{" + fields.sorted { $0.0 < $1.0 }.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}}"
        }
        switch self {
        case .linear(let out): return object("linear", [("out", out)])
        case .conv2d(let out, let k, let s, let p):
            return object("conv2d", [("out", out), ("kernel", k), ("stride", s), ("padding", p)])
        case .convTranspose2d(let out, let k, let s, let p, let op):
            return object(
                "conv_transpose2d", [("out", out), ("kernel", k), ("stride", s), ("padding", p), ("output_padding", op)])
        case .activation(.leakyRelu(let slope)): return "{\"leaky_relu\":{\"slope\":\(slope)}}"
        case .activation(let f): return "\"\(f.name)\""
        case .flatten: return "\"flatten\""
        case .unflatten(let shape): return "{\"unflatten\":[" + shape.map(String.init).joined(separator: ",") + "]}"
        case .groupNorm(let groups): return object("group_norm", [("groups", groups)])
        }
    }
}
