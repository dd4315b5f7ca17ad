import Foundation

/// How one value of a data set is stored on disk and in memory (NPY's `descr` spellings, little-endian).
public enum SampleType: String, CaseIterable, Sendable {
    /// Bytes, scaled to [0, 1] as grey levels (x / 255).
    case uint8 = "|u1"
    /// IEEE half, used as is.
    case float16 = "<f2"
    /// IEEE single, used as is.
    case float32 = "<f4"
    /// IEEE double, converted to float per batch.
    case float64 = "<f8"

    /// Bytes per value.
    public var byteWidth: Int {
        switch self {
        case .uint8: return 1
        case .float16: return 2
        case .float32: return 4
        case .float64: return 8
        }
    }
}

/// The values of a data set, never copied: bytes in memory (IDX files, the synthetic set) or a read-only memory
/// mapping of a file (NPY), so ranks on one node share the page cache and a data set larger than memory trains.
public final class SampleStorage: @unchecked Sendable {
    public let type: SampleType
    /// Bytes of values (`count × type.byteWidth`).
    public let byteCount: Int
    /// The in-memory bytes, when the storage is an array.
    public let bytes: [UInt8]?
    /// The mapped file and what identifies its version (for the cached fingerprint), when the storage is a mapping.
    public let file: FileIdentity?
    private let mapping: (address: UnsafeMutableRawPointer, length: Int)?
    /// The first value of a mapping.
    private let mappedBase: UnsafeRawPointer?

    /// Bytes in memory.
    public init(bytes: [UInt8]) {
        type = .uint8
        self.bytes = bytes
        byteCount = bytes.count
        mappedBase = nil
        mapping = nil
        file = nil
    }

    /// A read-only private mapping of `length` bytes of the open file `descriptor`, the values starting at `offset`.
    init(mapping descriptor: Int32, length: Int, offset: Int, type: SampleType, path: String, identity: FileIdentity) throws {
        let address = mmap(nil, max(length, 1), PROT_READ, MAP_PRIVATE, descriptor, 0)
        guard let address, address != MAP_FAILED else {
            throw DataError.unreadable(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        self.type = type
        mapping = (address, max(length, 1))
        mappedBase = UnsafeRawPointer(address + offset)
        byteCount = length - offset
        bytes = nil
        file = identity
    }

    deinit { if let mapping { munmap(mapping.address, mapping.length) } }

    /// Runs `body` on the values' bytes, which are valid only inside it (an array's storage is pinned for the
    /// call, a mapping for the storage's life). No allocation.
    @inline(__always)
    public func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        if let bytes { return try bytes.withUnsafeBytes(body) }
        return try body(UnsafeRawBufferPointer(start: mappedBase, count: byteCount))
    }

    /// Adds the values' bytes to `hasher` (the data set's fingerprint).
    func hash(into hasher: inout SHA256) { withBytes { hasher.update(raw: $0) } }

    /// Writes values `first ..< first + count` into `target` as floats: bytes scaled by 1/255, floats as stored.
    @inline(__always)
    func convert(first: Int, count: Int, into target: UnsafeMutablePointer<Float>) {
        guard count > 0 else { return }
        withBytes { raw in convert(base: raw.baseAddress!, first: first, count: count, into: target) }
    }

    @inline(__always)
    private func convert(base: UnsafeRawPointer, first: Int, count: Int, into target: UnsafeMutablePointer<Float>) {
        switch type {
        case .uint8:
            let source = base.assumingMemoryBound(to: UInt8.self) + first
            for j in 0..<count { target[j] = Float(source[j]) / 255 }
        case .float16:
            let source = base.assumingMemoryBound(to: UInt16.self) + first
            for j in 0..<count { target[j] = Float(Float16(bitPattern: UInt16(littleEndian: source[j]))) }
        case .float32:
            target.update(from: base.assumingMemoryBound(to: Float.self) + first, count: count)
        case .float64:
            let source = base.assumingMemoryBound(to: Double.self) + first
            for j in 0..<count { target[j] = Float(source[j]) }
        }
    }
}

/// What tells one version of a file from another without reading it: its path, device and inode, size, and
/// modification time to the nanosecond.
public struct FileIdentity: Equatable, Sendable {
    public var path: String
    public var device: UInt64, inode: UInt64, size: Int, modifiedSeconds: Int, modifiedNanoseconds: Int

    init(path: String, stat info: stat) {
        self.path = path
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int(info.st_size)
        modifiedSeconds = Int(info.st_mtim.tv_sec)
        modifiedNanoseconds = Int(info.st_mtim.tv_nsec)
    }

    /// The line the fingerprint cache stores before the hash.
    var key: String { "\(device) \(inode) \(size) \(modifiedSeconds).\(modifiedNanoseconds)" }
}

/// The SHA-256 of a memory-mapped data file, computed once and cached beside it (`FILE.sha256`: the file's
/// identity and the hash), so a start costs a stat, not a pass over the data. A cache whose identity does not match
/// the file (it was rewritten, touched or replaced) is ignored and rewritten; a folder that cannot be written just
/// means hashing at every start.
public enum FingerprintCache {
    public static func path(for file: String) -> String { file + ".sha256" }

    /// The cached hash of `storage`'s file, or the hash computed now (and cached).
    public static func fingerprint(of storage: SampleStorage, file: FileIdentity) -> String {
        let cache = path(for: file.path)
        if let text = try? String(contentsOfFile: cache, encoding: .utf8) {
            let lines = text.split(separator: "\n").map(String.init)
            if lines.count == 2, lines[0] == file.key, lines[1].count == 64, lines[1].allSatisfy(\.isHexDigit) { return lines[1] }
        }
        var hasher = SHA256()
        storage.hash(into: &hasher)
        let hash = hasher.finalize().hexString
        try? AtomicFile.write(Array("\(file.key)\n\(hash)\n".utf8), to: cache)
        return hash
    }
}
