import Foundation
import VAESettings

/// A safetensors error: names the file and the fault.
public struct SafetensorsError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let fault: String
    public var description: String { "\(path): not a valid safetensors file: \(fault)." }
}

/// One tensor's entry in a safetensors header.
public struct SafetensorsEntry: Equatable, Sendable {
    public var dtype: String
    public var shape: [Int]
    /// Byte range relative to the start of the data section.
    public var range: Range<Int>
}

/// The safetensors format: 8-byte little-endian header length N, N bytes of UTF-8 JSON header
/// (`{"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {string: string}}`), then the data.
/// The reader makes every check Hugging Face's reference reader makes.
public enum Safetensors {
    /// Largest header accepted (the reference reader's limit).
    public static let maximumHeaderSize = 100_000_000

    static let dtypeSizes: [String: Int] = [
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
        "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8,
    ]

    /// Serializes tensors (given in data order, as F32) and metadata into safetensors bytes.
    public static func encode(
        tensors: [(name: String, shape: [Int], data: UnsafeBufferPointer<Float>)],
        metadata: [String: String]
    ) -> [UInt8] {
        var header = "{\"__metadata__\":{"
        header += metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }.joined(separator: ",")
        header += "}"
        var offset = 0
        for tensor in tensors {
            let size = tensor.data.count * 4
            header +=
                ",\(jsonString(tensor.name)):{\"dtype\":\"F32\",\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + size)]}"
            offset += size
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }  // pad so the data is 8-byte aligned
        var out = [UInt8]()
        out.reserveCapacity(8 + headerBytes.count + offset)
        let n = UInt64(headerBytes.count)
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: n >> (8 * UInt64(i)))) }
        out += headerBytes
        for tensor in tensors {
            #if _endian(little)
                out.append(contentsOf: UnsafeRawBufferPointer(tensor.data))
            #else
                for value in tensor.data { withUnsafeBytes(of: value.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
            #endif
        }
        return out
    }

    /// Element `index` of a little-endian F32 tensor whose data starts at `base`.
    @inline(__always) public static func float32(_ base: UnsafeRawPointer, _ index: Int) -> Float {
        Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self)))
    }

    static func jsonString(_ s: String) -> String { jsonLiteral(s) }

    /// Parses and validates `bytes`; `path` only names the file in errors.
    public static func decode(
        _ bytes: [UInt8], path: String
    )
        throws -> (entries: [String: SafetensorsEntry], metadata: [String: String], dataStart: Int)
    {
        try decode(prefix: bytes, fileSize: bytes.count, path: path)
    }

    /// The header length a file's first 8 bytes declare, checked against the limit and the file's size.
    public static func headerEnd(_ first: [UInt8], fileSize: Int, path: String) throws -> Int {
        func fail(_ fault: String) -> SafetensorsError { SafetensorsError(path: path, fault: fault) }
        guard fileSize >= 8, first.count >= 8 else {
            throw fail("file is \(fileSize) bytes, shorter than the 8-byte header length")
        }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(first[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(maximumHeaderSize) else { throw fail("header length \(n) exceeds the 100 MB limit") }
        guard n <= UInt64(fileSize - 8) else {
            throw fail("header length \(n) is longer than the \(fileSize - 8) bytes after it")
        }
        return 8 + Int(n)
    }

    /// Parses and validates the header at the start of `prefix` (at least the first 8 + header bytes) for a file
    /// of `fileSize` bytes: every check but the data's own, so a reader can refuse a file before reading all of it.
    public static func decode(
        prefix bytes: [UInt8], fileSize: Int, path: String
    )
        throws -> (entries: [String: SafetensorsEntry], metadata: [String: String], dataStart: Int)
    {
        func fail(_ fault: String) -> SafetensorsError { SafetensorsError(path: path, fault: fault) }
        let headerEnd = try self.headerEnd(bytes, fileSize: fileSize, path: path)
        guard bytes.count >= headerEnd else { throw fail("header is cut short") }
        guard let text = String(validating: bytes[8..<headerEnd], as: UTF8.self) else { throw fail("header is not valid UTF-8") }
        guard text.first == "{" else { throw fail("header does not start with '{'") }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(text.utf8)) } catch { throw fail("header is not valid JSON") }
        guard let header = object as? [String: Any] else { throw fail("header is not a JSON object") }
        var metadata: [String: String] = [:]
        var entries: [String: SafetensorsEntry] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let dictionary = value as? [String: Any] else { throw fail("__metadata__ is not an object") }
                for (key, item) in dictionary {
                    guard let string = item as? String else { throw fail("metadata value for '\(key)' is not a string") }
                    metadata[key] = string
                }
                continue
            }
            guard let info = value as? [String: Any] else { throw fail("entry '\(name)' is not an object") }
            guard let dtype = info["dtype"] as? String, let size = dtypeSizes[dtype] else {
                throw fail("tensor '\(name)' has a missing or unknown dtype")
            }
            guard let shapeValues = info["shape"] as? [Any], let shape = integers(shapeValues), shape.allSatisfy({ $0 >= 0 })
            else {
                throw fail("tensor '\(name)' has an invalid shape")
            }
            guard let offsetValues = info["data_offsets"] as? [Any], let offsets = integers(offsetValues), offsets.count == 2,
                offsets[0] >= 0, offsets[0] <= offsets[1]
            else {
                throw fail("tensor '\(name)' has invalid data_offsets")
            }
            var elements = 1
            for d in shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow else { throw fail("tensor '\(name)' shape \(shape) overflows") }
                elements = product
            }
            let (byteCount, overflow) = elements.multipliedReportingOverflow(by: size)
            guard !overflow else { throw fail("tensor '\(name)' shape \(shape) overflows") }
            guard offsets[1] - offsets[0] == byteCount else {
                throw fail(
                    "tensor '\(name)' spans \(offsets[1] - offsets[0]) bytes but shape \(shape) of \(dtype) needs \(byteCount)")
            }
            entries[name] = SafetensorsEntry(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
        }
        // The byte ranges must tile the data section exactly: no gaps, no overlaps, nothing left over.
        var position = 0
        for (name, entry) in entries.sorted(by: {
            ($0.value.range.lowerBound, $0.value.range.upperBound) < ($1.value.range.lowerBound, $1.value.range.upperBound)
        }) {
            guard entry.range.lowerBound == position else {
                throw fail(
                    entry.range.lowerBound < position
                        ? "tensor '\(name)' overlaps the tensor before it"
                        : "gap of \(entry.range.lowerBound - position) bytes before tensor '\(name)'")
            }
            position = entry.range.upperBound
        }
        guard position == fileSize - headerEnd else {
            throw fail("tensors cover \(position) bytes but the data section has \(fileSize - headerEnd)")
        }
        return (entries, metadata, headerEnd)
    }

    static func integers(_ values: [Any]) -> [Int]? {
        var out: [Int] = []
        for value in values {
            guard let number = value as? NSNumber else { return nil }
            let double = number.doubleValue
            guard double == double.rounded(), abs(double) < 9e15 else { return nil }
            if isJSONBool(value) { return nil }
            out.append(Int(double))
        }
        return out
    }
}
