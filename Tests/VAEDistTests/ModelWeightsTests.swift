import Foundation
import Testing
@testable import VAETraining
import VAEModel

/// `--init-from` and `export` (``ModelWeights``): tensors by name and shape, conversions, refusals that name the
/// tensor and leave the parameters as they were, and the export read back bit for bit.
@Suite struct ModelWeightsTests {
    static let layout = ParameterLayout(Architecture(inputSize: 6, encoderHidden: [4], latentSize: 2, decoderHidden: [3]))

    /// A safetensors file of `tensors` (name, dtype, shape, raw little-endian bytes), laid out in the given order.
    static func file(_ tensors: [(String, String, [Int], [UInt8])]) -> [UInt8] {
        var offset = 0
        var entries: [String] = []
        for (name, dtype, shape, bytes) in tensors {
            entries.append(
                "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes.count)]}"
            )
            offset += bytes.count
        }
        let header = Array(("{" + entries.joined(separator: ",") + "}").utf8)
        var out = (0..<8).map { UInt8(truncatingIfNeeded: UInt64(header.count) >> (8 * UInt64($0))) } + header
        for (_, _, _, bytes) in tensors { out += bytes }
        return out
    }

    static func floats(_ values: [Float]) -> [UInt8] {
        values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
    }

    /// Every model tensor as F32 with values `base + index`, plus `extra`.
    static func modelFile(base: Float = 0, extra: [(String, String, [Int], [UInt8])] = []) -> [UInt8] {
        file(layout.tensors.map { ($0.name, "F32", $0.shape, floats((0..<$0.count).map { base + Float($0) })) } + extra)
    }

    @Test func readsEveryModelTensorByNameIgnoringTheRest() throws {
        let parameters = FlatBuffer(count: Self.layout.count)
        let unused = try ModelWeights.read(
            Self.modelFile(
                base: 0.5,
                extra: [
                    ("adam.exp_avg.fc1.weight", "F32", [1], Self.floats([9])),
                    ("step", "I64", [1], [UInt8](repeating: 0, count: 8)),
                ]),
            path: "m", layout: Self.layout, into: parameters)
        #expect(unused == ["adam.exp_avg.fc1.weight", "step"])
        for view in Self.layout.tensors {
            let p = parameters.pointer(to: view)
            #expect((0..<view.count).allSatisfy { p[$0] == 0.5 + Float($0) }, "\(view.name)")
        }
    }

    @Test func convertsHalfBFloatAndDouble() throws {
        #expect(ModelWeights.halfToFloat(0x3C00) == 1 && ModelWeights.halfToFloat(0xC000) == -2)
        #expect(ModelWeights.halfToFloat(0x7BFF) == 65504 && ModelWeights.halfToFloat(0x0001) == 0x1p-24)
        #expect(ModelWeights.halfToFloat(0x7C00) == .infinity && ModelWeights.halfToFloat(0x3555) == 0.33325195)
        // fc1.bias as F16, fc21.bias as BF16, fc3.bias as F64; the rest F32.
        let half: [UInt16] = [0x3C00, 0xC000, 0x3800, 0x0000], bfloat: [UInt16] = [0x3F80, 0xC040]
        let double: [Double] = [0.25, -1.5, 3]
        let tensors = Self.layout.tensors.map { view -> (String, String, [Int], [UInt8]) in
            switch view.name {
            case "fc1.bias":
                return (view.name, "F16", view.shape, half.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })
            case "fc21.bias":
                return (view.name, "BF16", view.shape, bfloat.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })
            case "fc3.bias":
                return (
                    view.name, "F64", view.shape, double.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
                )
            default: return (view.name, "F32", view.shape, Self.floats([Float](repeating: 0, count: view.count)))
            }
        }
        let parameters = FlatBuffer(count: Self.layout.count)
        try ModelWeights.read(Self.file(tensors), path: "m", layout: Self.layout, into: parameters)
        func values(_ name: String) -> [Float] {
            let view = Self.layout.tensors.first { $0.name == name }!
            return Array(UnsafeBufferPointer(start: parameters.pointer(to: view), count: view.count))
        }
        #expect(values("fc1.bias") == [1, -2, 0.5, 0])
        #expect(values("fc21.bias") == [1, -3])
        #expect(values("fc3.bias") == [0.25, -1.5, 3])
    }

    @Test func refusalsNameTheTensorAndLeaveTheParameters() throws {
        let parameters = FlatBuffer(count: Self.layout.count)
        parameters.buffer.update(repeating: 7)
        // A DDP-style prefix: the message says to strip it.
        let prefixed = Self.file(
            Self.layout.tensors.map {
                ("module." + $0.name, "F32", $0.shape, Self.floats([Float](repeating: 1, count: $0.count)))
            })
        #expect {
            try ModelWeights.read(prefixed, path: "ddp.safetensors", layout: Self.layout, into: parameters)
        } throws: {
            "\($0)".contains("no tensor 'fc1.weight'") && "\($0)".contains("'module.fc1.weight'")
                && "\($0)".contains("strip the prefix")
        }
        // Another architecture: the shapes in the message.
        var tensors = Self.layout.tensors.map { ($0.name, "F32", $0.shape, Self.floats([Float](repeating: 1, count: $0.count))) }
        tensors[0] = ("fc1.weight", "F32", [5, 6], Self.floats([Float](repeating: 1, count: 30)))
        #expect {
            try ModelWeights.read(Self.file(tensors), path: "w", layout: Self.layout, into: parameters)
        } throws: { "\($0)".contains("'fc1.weight' has shape [5, 6]") && "\($0)".contains("needs [4, 6]") }
        // A NaN in the last tensor: refused, and nothing written before it.
        tensors = Self.layout.tensors.map { ($0.name, "F32", $0.shape, Self.floats([Float](repeating: 1, count: $0.count))) }
        tensors[tensors.count - 1].3 = Self.floats([Float](repeating: .nan, count: Self.layout.tensors.last!.count))
        #expect {
            try ModelWeights.read(Self.file(tensors), path: "w", layout: Self.layout, into: parameters)
        } throws: { "\($0)".contains("non-finite") }
        // Integer weights are refused by type.
        tensors[0].1 = "I32"
        #expect {
            try ModelWeights.read(Self.file(tensors), path: "w", layout: Self.layout, into: parameters)
        } throws: { "\($0)".contains("is I32") }
        #expect(parameters.array.allSatisfy { $0 == 7 })
    }

    @Test func exportHoldsTheModelTensorsAloneAndReadsBackBitForBit() throws {
        let parameters = FlatBuffer(count: Self.layout.count)
        Self.layout.initialize(parameters, seed: 5)
        let bytes = ModelWeights.export(layout: Self.layout, parameters: parameters, source: ["global_step": "3"])
        let (entries, metadata, _) = try Safetensors.decode(bytes, path: "export")
        #expect(Set(entries.keys) == Set(Self.layout.tensors.map(\.name)))
        #expect(metadata["format"] == "pt" && metadata["global_step"] == "3")
        let back = FlatBuffer(count: Self.layout.count)
        try ModelWeights.read(bytes, path: "export", layout: Self.layout, into: back)
        #expect(back.array.map(\.bitPattern) == parameters.array.map(\.bitPattern))
    }
}
