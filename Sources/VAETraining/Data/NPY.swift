import Foundation

/// Reader for NumPy's `.npy` files (format versions 1–3): a C-order array of uint8, float16, float32 or float64,
/// shape `[N, d1, d2, …]`, read as N samples of d1·d2·… values, memory-mapped read-only (never copied).
///
/// The header is checked before anything is allocated or mapped: magic, version, header length (at most
/// ``maximumHeaderLength``), the header dictionary (`descr`, `fortran_order`, `shape`, nothing else), a shape whose
/// product fits, and a file whose size is exactly header + data.
public enum NPYReader {
    /// A parsed header.
    public struct Header: Equatable, Sendable {
        public var type: SampleType
        public var shape: [Int]
        /// Where the data starts in the file.
        public var dataOffset: Int
        /// Bytes of data the shape and type promise.
        public var dataBytes: Int
    }

    /// NumPy writes headers of a few hundred bytes; anything longer than this is refused before it is read.
    public static let maximumHeaderLength = 1 << 16

    /// An NPY error naming the file and the fault.
    static func error(_ path: String, _ problem: String) -> DataError { .unreadable(path: path, reason: problem) }

    /// Parses the header at the start of `prefix` (the file's first bytes); `fileSize` is the whole file's, nil
    /// for a compressed file (whose size the caller checks while inflating).
    public static func header(_ prefix: UnsafeRawBufferPointer, fileSize: Int?, path: String) throws -> Header {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY
        guard prefix.count >= 10, Array(prefix[0..<6]) == magic else {
            throw error(path, "not an NPY file (it does not start with \\x93NUMPY); save the array with numpy.save")
        }
        let major = prefix[6]
        let lengthBytes: Int
        switch major {
        case 1: lengthBytes = 2
        case 2, 3: lengthBytes = 4
        default: throw error(path, "NPY format version \(major).\(prefix[7]) is not supported (1, 2 and 3 are)")
        }
        guard prefix.count >= 8 + lengthBytes else { throw error(path, "truncated in the NPY header") }
        var length = 0
        for i in 0..<lengthBytes { length |= Int(prefix[8 + i]) << (8 * i) }
        let start = 8 + lengthBytes
        guard length <= maximumHeaderLength else {
            throw error(path, "the NPY header claims \(length) bytes, more than the \(maximumHeaderLength) this reader accepts")
        }
        guard start + length <= prefix.count, start + length <= (fileSize ?? .max) else {
            throw error(path, "truncated: the NPY header claims \(length) bytes and the file ends before them")
        }
        let text = String(decoding: prefix[start..<(start + length)], as: UTF8.self)
        var parser = PythonLiteralParser(text: text, path: path)
        let dictionary = try parser.dictionary()
        guard Set(dictionary.keys) == ["descr", "fortran_order", "shape"] else {
            throw error(path, "the NPY header has keys \(dictionary.keys.sorted()), expected descr, fortran_order and shape")
        }
        guard case .string(let descr) = dictionary["descr"]! else { throw error(path, "the NPY header's descr is not a string") }
        guard case .bool(let fortran) = dictionary["fortran_order"]! else {
            throw error(path, "the NPY header's fortran_order is not True or False")
        }
        guard case .tuple(let shape) = dictionary["shape"]! else { throw error(path, "the NPY header's shape is not a tuple") }
        guard !fortran else {
            throw error(path, "a Fortran-order array; save a C-order copy (numpy.save(path, numpy.ascontiguousarray(a)))")
        }
        let type: SampleType
        switch descr {
        case "|u1", "<u1", ">u1", "u1", "=u1": type = .uint8
        case "<f2", "=f2": type = .float16
        case "<f4", "=f4": type = .float32
        case "<f8", "=f8": type = .float64
        case let d where d.contains("O"):
            throw error(path, "an object array (dtype \(d)) cannot be read; save a numeric array (uint8 or float32)")
        case let d where d.hasPrefix(">"):
            throw error(path, "a big-endian array (dtype \(d)); save it as little-endian (a.astype('<f4'))")
        default:
            throw error(
                path, "dtype \(descr) is not supported; save uint8, float16, float32 or float64 (a.astype(numpy.float32))")
        }
        guard !shape.isEmpty else { throw error(path, "a 0-dimensional array; the first dimension must count the samples") }
        var values = 1
        for dimension in shape {
            guard dimension >= 0 else { throw error(path, "negative dimension in shape \(shape)") }
            let (product, overflow) = values.multipliedReportingOverflow(by: dimension)
            guard !overflow, product < Int.max / 8 else {
                throw error(path, "shape \(shape) has more values than can be addressed")
            }
            values = product
        }
        let dataBytes = values * type.byteWidth
        let dataOffset = start + length
        guard let fileSize else { return Header(type: type, shape: shape, dataOffset: dataOffset, dataBytes: dataBytes) }
        guard fileSize - dataOffset == dataBytes else {
            if fileSize - dataOffset < dataBytes {
                throw DataError.truncated(path: path, expectedBytes: dataOffset + dataBytes, actualBytes: fileSize)
            }
            throw DataError.trailingBytes(path: path, expectedBytes: dataOffset + dataBytes, actualBytes: fileSize)
        }
        return Header(type: type, shape: shape, dataOffset: dataOffset, dataBytes: dataBytes)
    }

    /// Reads `path` (plain or gzip-compressed) as a data set: samples along the first dimension, the rest
    /// flattened (an image's rows and columns are its last two dimensions). No labels.
    public static func readDataset(path: String) throws -> ImageDataset {
        let file = try DataFile(path: path)
        let prefix = try file.prefix(12 + maximumHeaderLength)
        let header = try prefix.withUnsafeBytes { try NPYReader.header($0, fileSize: file.contentSize, path: path) }
        guard header.shape[0] > 0 else { throw error(path, "no samples (shape \(header.shape))") }
        let width = header.shape.dropFirst().reduce(1, *)
        guard width > 0 else { throw error(path, "samples of 0 values (shape \(header.shape))") }
        let storage = try file.samples(
            offset: header.dataOffset, count: header.shape[0], valuesPerSample: width, type: header.type)
        return dataset(storage: storage, shape: header.shape)
    }

    /// A data set of `storage` with an NPY's `shape` (samples along the first axis).
    static func dataset(storage: SampleStorage, shape: [Int]) -> ImageDataset {
        let width = shape.dropFirst().reduce(1, *)
        let columns = shape.count >= 2 ? shape[shape.count - 1] : 1
        let dimensions = Array(shape.dropFirst())
        return ImageDataset(
            storage: storage, rows: width / columns, columns: columns,
            sampleShape: dimensions.count == 2 ? [1] + dimensions : dimensions.count == 0 ? [1] : dimensions,
            storedDimensions: dimensions)
    }

    /// An NPY file's bytes held in memory (an `.npz` member) as a data set: the header checked as a file's is, the
    /// values copied into memory the storage owns.
    static func dataset(bytes: [UInt8], path: String) throws -> ImageDataset {
        let header = try bytes.withUnsafeBytes { try NPYReader.header($0, fileSize: bytes.count, path: path) }
        guard header.shape[0] > 0 else { throw error(path, "no samples (shape \(header.shape))") }
        let width = header.shape.dropFirst().reduce(1, *)
        guard width > 0 else { throw error(path, "samples of 0 values (shape \(header.shape))") }
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(header.dataBytes, 1), alignment: 64)
        bytes.withUnsafeBytes { memory.copyMemory(from: $0.baseAddress! + header.dataOffset, byteCount: header.dataBytes) }
        let storage = SampleStorage(owning: memory, type: header.type, valuesPerSample: width, count: header.shape[0])
        return dataset(storage: storage, shape: header.shape)
    }
}

/// The subset of Python literals an NPY header uses: a dict of string keys to strings, True/False and tuples of
/// non-negative integers.
struct PythonLiteralParser {
    enum Value: Equatable { case string(String), bool(Bool), tuple([Int]) }
    let characters: [Character]
    var position = 0
    let path: String

    init(text: String, path: String) {
        characters = Array(text)
        self.path = path
    }

    func fail(_ what: String) -> DataError {
        .unreadable(path: path, reason: "the NPY header is not a dictionary NumPy writes (\(what) at character \(position))")
    }

    mutating func skipSpace() { while position < characters.count, characters[position].isWhitespace { position += 1 } }

    mutating func expect(_ c: Character) throws {
        skipSpace()
        guard position < characters.count, characters[position] == c else { throw fail("expected '\(c)'") }
        position += 1
    }

    mutating func peek() -> Character? {
        skipSpace()
        return position < characters.count ? characters[position] : nil
    }

    mutating func dictionary() throws -> [String: Value] {
        try expect("{")
        var result: [String: Value] = [:]
        while peek() != "}" {
            let key = try string()
            try expect(":")
            guard result[key] == nil else { throw fail("key '\(key)' repeated") }
            result[key] = try value()
            if peek() == "," { position += 1 } else { break }
        }
        try expect("}")
        skipSpace()
        guard position == characters.count else { throw fail("text after the dictionary") }
        return result
    }

    mutating func string() throws -> String {
        guard let quote = peek(), quote == "'" || quote == "\"" else { throw fail("expected a string") }
        position += 1
        var out = ""
        while position < characters.count, characters[position] != quote {
            out.append(characters[position])
            position += 1
            guard out.count <= 64 else { throw fail("a string longer than 64 characters") }
        }
        guard position < characters.count else { throw fail("an unterminated string") }
        position += 1
        return out
    }

    mutating func value() throws -> Value {
        switch peek() {
        case "'", "\"": return .string(try string())
        case "(":
            position += 1
            var numbers: [Int] = []
            while peek() != ")" {
                var digits = ""
                while position < characters.count, characters[position].isASCII, characters[position].isNumber {
                    digits.append(characters[position])
                    position += 1
                }
                // Python writes long integers with an L suffix in old headers.
                if position < characters.count, characters[position] == "L" { position += 1 }
                guard !digits.isEmpty, digits.count <= 18, let n = Int(digits) else { throw fail("expected a dimension") }
                numbers.append(n)
                guard numbers.count <= 32 else { throw fail("more than 32 dimensions") }
                if peek() == "," { position += 1 } else { break }
            }
            try expect(")")
            return .tuple(numbers)
        default:
            for (word, value) in [("True", true), ("False", false)] where characters[position...].starts(with: word) {
                position += word.count
                return .bool(value)
            }
            throw fail("expected a string, a tuple, True or False")
        }
    }
}
