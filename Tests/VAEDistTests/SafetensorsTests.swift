import Foundation
import Testing
@testable import VAETraining
import VAEModel

@Suite struct SafetensorsTests {
    /// A hand-made file: header text, then `dataBytes` zero bytes.
    func file(_ header: String, dataBytes: Int) -> [UInt8] {
        let h = Array(header.utf8)
        return (0..<8).map { UInt8(truncatingIfNeeded: UInt64(h.count) >> (8 * UInt64($0))) } + h
            + [UInt8](repeating: 0, count: dataBytes)
    }

    @Test func roundTripKeepsNamesShapesValuesAndMetadata() throws {
        let values: [Float] = [1, -2.5, .pi, 0, 1e-30, 7]
        let bytes = values.withUnsafeBufferPointer { data in
            Safetensors.encode(
                tensors: [
                    ("a.weight", [2, 2], UnsafeBufferPointer(rebasing: data[0..<4])),
                    ("a.bias", [2], UnsafeBufferPointer(rebasing: data[4..<6])),
                ],
                metadata: ["note": "quote \" and newline \n", "x": "1"])
        }
        let (entries, metadata, start) = try Safetensors.decode(bytes, path: "mem")
        #expect(start % 8 == 0, "data section is 8-byte aligned")
        #expect(entries["a.weight"] == SafetensorsEntry(dtype: "F32", shape: [2, 2], range: 0..<16))
        #expect(entries["a.bias"] == SafetensorsEntry(dtype: "F32", shape: [2], range: 16..<24))
        #expect(metadata == ["note": "quote \" and newline \n", "x": "1"])
        let decoded = (0..<6).map { i in
            Float(bitPattern: bytes[(start + 4 * i)..<(start + 4 * i + 4)].reversed().reduce(0) { $0 << 8 | UInt32($1) })
        }
        #expect(decoded == values)
    }

    @Test(arguments: [
        ("short", "", "shorter than the 8-byte"),
        ("huge", "HUGE", "exceeds the 100 MB"),
        ("long", "LONG", "longer than"),
        ("utf8", "BADUTF8", "UTF-8"),
        ("json", #"{"a": "#, "valid JSON"),
        (
            "overlap",
            #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
            "overlaps"
        ),
        (
            "gap",
            #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#,
            "gap"
        ),
        ("uncovered", #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, "cover"),
        ("length", #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, "needs 12"),
        ("overflow", #"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#, "overflows"),
        ("metadata", #"{"__metadata__":{"k":1}}"#, "not a string"),
        ("dtype", #"{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}"#, "dtype"),
    ])
    func rejects(name: String, header: String, phrase: String) {
        var bytes: [UInt8]
        switch header {
        case "": bytes = [1, 2, 3]
        case "HUGE": bytes = file("{}", dataBytes: 0); bytes[0..<8] = [0, 0, 0, 0x10, 0, 0, 0, 0]
        case "LONG": bytes = file("{}", dataBytes: 0); bytes[0] = 200
        case "BADUTF8": bytes = file("{\"\u{e9}\":1}", dataBytes: 0); bytes[10] = 0xFF
        default: bytes = file(header, dataBytes: name == "uncovered" ? 12 : (name == "overlap" || name == "gap") ? 12 : 8)
        }
        do {
            _ = try Safetensors.decode(bytes, path: "/tmp/\(name).safetensors")
            Issue.record("\(name): accepted")
        } catch let error as SafetensorsError {
            #expect(error.description.contains("/tmp/\(name).safetensors"))
            #expect(error.description.contains(phrase), "\(name): '\(error)' lacks '\(phrase)'")
        } catch {
            Issue.record("\(name): unexpected \(error)")
        }
    }
}
