import Foundation
import VAEDistributed
import VAEModel

/// An error reading model weights for `--init-from`, naming the file and what to do.
public struct ModelWeightsError: Error, CustomStringConvertible {
    public let path: String
    public let problem: String
    public var description: String { "--init-from \(path): \(problem)" }
}

/// Model weights in and out of vae-dist as plain safetensors files, in the PyTorch example's names (`fc1.weight`
/// `[400, 784]`, `fc1.bias`, `fc21.*`, `fc22.*`, `fc3.*`, `fc4.*`; see ``ParameterLayout``):
/// - in: `train --init-from FILE` reads every model tensor by name and shape from any safetensors file — a
///   `safetensors.torch.save_file(model.state_dict())` file, an exported model or a vae-dist checkpoint — and
///   ignores the rest (optimizer moments, buffers of other modules);
/// - out: `vae-dist export` writes the model tensors alone, so `model.load_state_dict(load_file(F), strict=True)`
///   loads them into the example's module with no key filtering.
public enum ModelWeights {
    /// Element types read (converted to float32): PyTorch's float32 default and its half/double types.
    static let readableTypes: Set<String> = ["F32", "F64", "F16", "BF16"]

    /// Fills `parameters` with the model tensors of the safetensors file `bytes`. Every tensor of `layout` must be
    /// there with its shape and finite values, except a prior's (a VampPrior's pseudo-inputs, when weights trained
    /// without it start a run with one), which then keeps the value `parameters` holds (its initialization); nothing is
    /// written unless all are. Returns the names of the tensors in the file that were not used.
    @discardableResult
    public static func read(
        _ bytes: [UInt8], path: String, layout: ParameterLayout, into parameters: FlatBuffer
    ) throws -> [String] {
        let (entries, _, dataStart) = try Safetensors.decode(bytes, path: path)
        let expected = layout.tensors.map { "\($0.name) \($0.shape)" }.joined(separator: ", ")
        for view in layout.tensors {
            guard let entry = entries[view.name] else {
                if layout.priorTensors.contains(view) { continue }
                let close = entries.keys.filter { $0.hasSuffix(view.name) }.sorted().first
                throw ModelWeightsError(
                    path: path,
                    problem:
                        "it has no tensor '\(view.name)'\(close.map { " (it has '\($0)': strip the prefix from the names when saving)" } ?? ""). The model \(layout.architecture.describe) needs \(expected); set model.* to the architecture the weights were trained with."
                )
            }
            guard entry.shape == view.shape else {
                throw ModelWeightsError(
                    path: path,
                    problem:
                        "tensor '\(view.name)' has shape \(entry.shape) but the model \(layout.architecture.describe) needs \(view.shape); set model.* to the architecture the weights were trained with."
                )
            }
            guard readableTypes.contains(entry.dtype) else {
                throw ModelWeightsError(
                    path: path,
                    problem: "tensor '\(view.name)' is \(entry.dtype); save it as float32 (F32, F64, F16 or BF16 are read)")
            }
        }
        let scratch = FlatBuffer(count: layout.count)
        scratch.copy(from: parameters)
        for view in layout.tensors {
            guard let entry = entries[view.name] else { continue }  // a prior's tensor the file lacks: kept
            let target = scratch.pointer(to: view)
            bytes.withUnsafeBytes { raw in
                let base = raw.baseAddress! + dataStart + entry.range.lowerBound
                for i in 0..<view.count { target[i] = element(entry.dtype, base, i) }
            }
            if let bad = (0..<view.count).first(where: { !target[$0].isFinite }) {
                throw ModelWeightsError(path: path, problem: "tensor '\(view.name)' holds a non-finite value at element \(bad)")
            }
        }
        parameters.copy(from: scratch)
        let used = Set(layout.tensors.map(\.name))
        return entries.keys.filter { !used.contains($0) }.sorted()
    }

    /// Element `i` of a little-endian tensor of `dtype` at `base`, as a Float.
    static func element(_ dtype: String, _ base: UnsafeRawPointer, _ i: Int) -> Float {
        switch dtype {
        case "F64":
            return Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
        case "F16": return halfToFloat(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        case "BF16":
            return Float(
                bitPattern: UInt32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
        default: return Safetensors.float32(base, i)
        }
    }

    /// IEEE 754 binary16 → binary32 (exact; subnormals, infinities and NaN kept).
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign: Float = h & 0x8000 != 0 ? -1 : 1
        let exponent = Int((h >> 10) & 0x1F), fraction = Float(h & 0x3FF)
        switch exponent {
        case 0: return sign * fraction * 0x1p-24
        case 31: return fraction == 0 ? sign * .infinity : .nan
        default: return sign * (1 + fraction / 1024) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
        }
    }

    /// The safetensors bytes of the model tensors alone (float32, the example's names), with metadata
    /// `format: pt` (as `safetensors.torch.save_file` writes) and where they came from.
    public static func export(layout: ParameterLayout, parameters: FlatBuffer, source: [String: String]) -> [UInt8] {
        let tensors = layout.tensors.map { view in
            (
                name: view.name, shape: view.shape,
                data: UnsafeBufferPointer(start: parameters.pointer(to: view), count: view.count)
            )
        }
        var metadata = source
        metadata["format"] = "pt"
        metadata["vae_dist_architecture"] = layout.architecture.describe
        return withExtendedLifetime(parameters) { Safetensors.encode(tensors: tensors, metadata: metadata) }
    }
}
