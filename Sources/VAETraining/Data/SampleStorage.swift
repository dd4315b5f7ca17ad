import CMappedFiles
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

/// The values of a data set, never copied: one or more segments of whole samples — a read-only memory mapping of
/// a file (NPY, IDX), or memory the storage owns (a decompressed `.gz`, the synthetic set) — read as one logical
/// array of `count` samples of `valuesPerSample` values. Mapped files share the page cache across the ranks of a
/// node, and a data set larger than memory trains (pages come and go). A folder of shards is one storage of
/// several segments (``SampleStorage/init(concatenating:)``).
public final class SampleStorage: @unchecked Sendable {
    /// A run of whole samples at one address.
    public struct Segment: @unchecked Sendable {
        /// The first value of the segment's first sample.
        let base: UnsafeRawPointer
        /// The logical index of the segment's first sample.
        public let firstSample: Int
        /// Samples in the segment.
        public let count: Int
        /// The mapped file and what identifies its version (for the cached fingerprint), when the segment is one.
        public let file: FileIdentity?
    }

    public let type: SampleType
    public let valuesPerSample: Int
    /// Samples in all segments.
    public let count: Int
    public let segments: [Segment]
    /// Bytes of values (`count × valuesPerSample × type.byteWidth`).
    public var byteCount: Int { count * valuesPerSample * type.byteWidth }
    /// What `deinit` gives back: mappings to unmap and allocations to free (not those of concatenated parts).
    private let mappings: [(address: UnsafeMutableRawPointer, length: Int)]
    private let allocation: UnsafeMutableRawPointer?
    /// The storages a concatenation reads (kept alive with it).
    private let parts: [SampleStorage]
    private let bytesPerSample: Int
    /// Each mapped file's slot in the SIGBUS handler's table (CMappedFiles), with its path.
    private let watched: [(slot: Int32, path: String)]

    private init(
        type: SampleType, valuesPerSample: Int, segments: [Segment], mappings: [(UnsafeMutableRawPointer, Int)] = [],
        allocation: UnsafeMutableRawPointer? = nil, parts: [SampleStorage] = [], watched: [(Int32, String)] = []
    ) {
        self.type = type
        self.valuesPerSample = valuesPerSample
        self.segments = segments
        count = segments.reduce(0) { $0 + $1.count }
        self.mappings = mappings
        self.allocation = allocation
        self.parts = parts
        self.watched = watched
        bytesPerSample = valuesPerSample * type.byteWidth
    }

    /// The mapped files that shrank under their mapping, as far as reads found (each read past a file's new end
    /// was answered with zeros by the SIGBUS handler and counted; docs/faults.md). Empty in normal use.
    public var shrunkenFiles: [String] {
        watched.filter { vae_mapping_faults($0.slot) > 0 }.map(\.path) + parts.flatMap(\.shrunkenFiles)
    }

    /// How many reads the SIGBUS handler answered in this storage's files so far (0 in normal use).
    public var readFaults: Int {
        watched.reduce(0) { $0 + vae_mapping_faults($1.slot) } + parts.reduce(0) { $0 + $1.readFaults }
    }

    /// Reads one byte of each page that `sample`'s values span (before a step, so a file that shrank is found
    /// before any of its bytes are used); returns them combined, for the caller to keep.
    @inline(__always)
    public func touch(sample: Int) -> UInt8 {
        let base = address(ofSample: sample)
        var combined: UInt8 = 0
        var offset = 0
        while offset < bytesPerSample {
            combined ^= base.load(fromByteOffset: offset, as: UInt8.self)
            offset += 4096
        }
        return combined ^ base.load(fromByteOffset: bytesPerSample - 1, as: UInt8.self)
    }

    /// A copy of `bytes` (byte values), `valuesPerSample` per sample.
    public convenience init(bytes: [UInt8], valuesPerSample: Int) {
        precondition(valuesPerSample > 0 && bytes.count % valuesPerSample == 0, "bytes are not whole samples")
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        bytes.withUnsafeBytes { memory.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        self.init(owning: memory, type: .uint8, valuesPerSample: valuesPerSample, count: bytes.count / valuesPerSample)
    }

    /// Memory from `UnsafeMutableRawPointer.allocate`, which the storage now owns and frees.
    convenience init(owning memory: UnsafeMutableRawPointer, type: SampleType, valuesPerSample: Int, count: Int) {
        self.init(
            type: type, valuesPerSample: valuesPerSample,
            segments: [Segment(base: UnsafeRawPointer(memory), firstSample: 0, count: count, file: nil)], allocation: memory)
    }

    /// A read-only private mapping of the open file `descriptor` (`length` bytes), `count` samples starting at byte
    /// `offset`.
    convenience init(
        mapping descriptor: Int32, length: Int, offset: Int, type: SampleType, valuesPerSample: Int, count: Int,
        path: String, identity: FileIdentity
    ) throws {
        let address = mmap(nil, max(length, 1), PROT_READ, MAP_PRIVATE, descriptor, 0)
        guard let address, address != MAP_FAILED else {
            throw DataError.unreadable(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        let slot = vae_mapping_register(address, max(length, 1))
        self.init(
            type: type, valuesPerSample: valuesPerSample,
            segments: [Segment(base: UnsafeRawPointer(address + offset), firstSample: 0, count: count, file: identity)],
            mappings: [(address, max(length, 1))], watched: slot >= 0 ? [(slot, path)] : [])
    }

    /// `parts` read one after another as one data set (a folder of shards); they must share type and width.
    public convenience init(concatenating parts: [SampleStorage]) {
        precondition(
            !parts.isEmpty && parts.allSatisfy { $0.type == parts[0].type && $0.valuesPerSample == parts[0].valuesPerSample })
        var segments: [Segment] = []
        var first = 0
        for part in parts {
            for segment in part.segments {
                segments.append(Segment(base: segment.base, firstSample: first, count: segment.count, file: segment.file))
                first += segment.count
            }
        }
        self.init(type: parts[0].type, valuesPerSample: parts[0].valuesPerSample, segments: segments, parts: parts)
    }

    deinit {
        for (slot, _) in watched { vae_mapping_unregister(slot) }
        for mapping in mappings { munmap(mapping.address, mapping.length) }
        allocation?.deallocate()
    }

    /// The first byte of sample `sample` (a binary search over the segments when there are several). No allocation.
    @inline(__always)
    public func address(ofSample sample: Int) -> UnsafeRawPointer {
        if segments.count == 1 { return segments[0].base + sample * bytesPerSample }
        var low = 0, high = segments.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if segments[middle].firstSample <= sample { low = middle } else { high = middle - 1 }
        }
        return segments[low].base + (sample - segments[low].firstSample) * bytesPerSample
    }

    /// All values' bytes in order (a copy; tests and small data).
    public func copyBytes() -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(byteCount)
        for segment in segments {
            result.append(contentsOf: UnsafeRawBufferPointer(start: segment.base, count: segment.count * bytesPerSample))
        }
        return result
    }

    /// Adds the values' bytes to `hasher`, segment after segment (the data set's fingerprint).
    func hash(into hasher: inout SHA256) {
        for segment in segments {
            hasher.update(raw: UnsafeRawBufferPointer(start: segment.base, count: segment.count * bytesPerSample))
        }
    }

    /// Writes sample `sample`'s values into `target` as floats: bytes scaled by 1/255, floats as stored.
    @inline(__always)
    /// Sample `sample` stored channels-last (`[H, W, channels]`) as `[channels, H, W]` floats in `target`.
    public func convert(sample: Int, into target: UnsafeMutablePointer<Float>, channelsLast channels: Int) {
        let base = address(ofSample: sample)
        let plane = valuesPerSample / channels
        @inline(__always) func gather(_ value: (Int) -> Float) {
            for p in 0..<plane { for c in 0..<channels { target[c * plane + p] = value(p * channels + c) } }
        }
        switch type {
        case .uint8:
            let source = base.assumingMemoryBound(to: UInt8.self)
            gather { Float(source[$0]) / 255 }
        case .float16:
            let source = base.assumingMemoryBound(to: UInt16.self)
            gather { Float(Float16(bitPattern: UInt16(littleEndian: source[$0]))) }
        case .float32:
            let source = base.assumingMemoryBound(to: Float.self)
            gather { source[$0] }
        case .float64:
            let source = base.assumingMemoryBound(to: Double.self)
            gather { Float(source[$0]) }
        }
    }

    public func convert(sample: Int, into target: UnsafeMutablePointer<Float>) {
        let base = address(ofSample: sample)
        let count = valuesPerSample
        switch type {
        case .uint8:
            let source = base.assumingMemoryBound(to: UInt8.self)
            for j in 0..<count { target[j] = Float(source[j]) / 255 }
        case .float16:
            let source = base.assumingMemoryBound(to: UInt16.self)
            for j in 0..<count { target[j] = Float(Float16(bitPattern: UInt16(littleEndian: source[j]))) }
        case .float32:
            target.update(from: base.assumingMemoryBound(to: Float.self), count: count)
        case .float64:
            let source = base.assumingMemoryBound(to: Double.self)
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

    /// The cached hash of the values of `segment`'s file, or the hash computed now (and cached).
    public static func fingerprint(of segment: SampleStorage.Segment, bytesPerSample: Int, file: FileIdentity) -> String {
        let cache = path(for: file.path)
        if let bytes = try? SmallFile.read(cache, limit: 4096) {
            let text = String(decoding: bytes, as: UTF8.self)
            let lines = text.split(separator: "\n").map(String.init)
            if lines.count == 2, lines[0] == file.key, lines[1].count == 64, lines[1].allSatisfy(\.isHexDigit) { return lines[1] }
        }
        var hasher = SHA256()
        hasher.update(raw: UnsafeRawBufferPointer(start: segment.base, count: segment.count * bytesPerSample))
        let hash = hasher.finalize().hexString
        try? AtomicFile.write(Array("\(file.key)\n\(hash)\n".utf8), to: cache)
        return hash
    }
}
