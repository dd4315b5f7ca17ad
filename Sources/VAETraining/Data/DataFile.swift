import CZlib
import Foundation

/// One data file opened for reading, plain or gzip-compressed (detected by its first two bytes, 1f 8b, whatever
/// its name): the readers take its first bytes to parse a header, then its samples as a ``SampleStorage`` — a
/// read-only mapping of a plain file, or for a compressed one memory holding exactly the inflated values (zlib),
/// allocated only after the header's size has been checked against memory.
struct DataFile: ~Copyable {
    let path: String
    let descriptor: Int32
    let info: stat
    /// Whether the file is gzip-compressed.
    let compressed: Bool

    /// The file's size on disk.
    var size: Int { Int(info.st_size) }
    /// The size of what the readers parse: the file itself, or nil when it is compressed (known only once read).
    var contentSize: Int? { compressed ? nil : size }

    /// Opens `path`, refusing what is not a regular file. O_NONBLOCK: a FIFO or device given as a data file must
    /// not block the open; fstat then refuses it.
    init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw DataError.missingFile(path: path) }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { throw DataError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            throw DataError.unreadable(path: path, reason: "not a regular file")
        }
        var magic: [UInt8] = [0, 0]
        let got = pread(descriptor, &magic, 2, 0)
        self.path = path
        self.descriptor = descriptor
        self.info = info
        compressed = got == 2 && magic == [0x1F, 0x8B]
    }

    deinit { close(descriptor) }

    /// Up to `count` bytes from the start of the content (fewer when it is shorter).
    func prefix(_ count: Int) throws -> [UInt8] {
        if !compressed {
            var bytes = [UInt8](repeating: 0, count: min(count, size))
            let got = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
            guard got == bytes.count else { throw DataError.unreadable(path: path, reason: "could not read the header") }
            return bytes
        }
        var bytes = [UInt8](repeating: 0, count: count)
        let stream = try Inflater(self)
        let got = try bytes.withUnsafeMutableBytes { try stream.read(into: $0.baseAddress!, count: count) }
        return Array(bytes.prefix(got))
    }

    /// `count` samples of `valuesPerSample` values of `type` starting at byte `offset`, after checking that the
    /// content is exactly `offset` plus those bytes (truncated and trailing bytes are errors).
    func samples(offset: Int, count: Int, valuesPerSample: Int, type: SampleType) throws -> SampleStorage {
        let dataBytes = count * valuesPerSample * type.byteWidth
        let expected = offset + dataBytes
        guard compressed else {
            if size < expected { throw DataError.truncated(path: path, expectedBytes: expected, actualBytes: size) }
            if size > expected { throw DataError.trailingBytes(path: path, expectedBytes: expected, actualBytes: size) }
            return try SampleStorage(
                mapping: descriptor, length: size, offset: offset, type: type, valuesPerSample: valuesPerSample, count: count,
                path: path, identity: FileIdentity(path: path, stat: info))
        }
        // Inflated into memory: refuse, before allocating, what memory cannot hold.
        let memory = MachineMemory.bytes
        guard dataBytes <= memory / 2 else {
            throw DataError.unreadable(
                path: path,
                reason:
                    "the header promises \(dataBytes) bytes, more than half this machine's memory (\(memory) bytes), and a "
                    + ".gz file is inflated into memory; decompress it (gunzip) so it is memory-mapped instead")
        }
        let stream = try Inflater(self)
        var skip = [UInt8](repeating: 0, count: offset)
        guard try skip.withUnsafeMutableBytes({ try stream.read(into: $0.baseAddress!, count: offset) }) == offset else {
            throw DataError.truncated(path: path, expectedBytes: expected, actualBytes: 0)
        }
        let values = UnsafeMutableRawPointer.allocate(byteCount: max(dataBytes, 1), alignment: 64)
        let got: Int
        var extra: UInt8 = 0
        do {
            got = try stream.read(into: values, count: dataBytes)
            if got == dataBytes, try stream.read(into: &extra, count: 1) > 0 {
                throw DataError.trailingBytes(path: path, expectedBytes: expected, actualBytes: expected + 1)
            }
        } catch {
            values.deallocate()
            throw error
        }
        guard got == dataBytes else {
            values.deallocate()
            throw DataError.truncated(path: path, expectedBytes: expected, actualBytes: offset + got)
        }
        return SampleStorage(owning: values, type: type, valuesPerSample: valuesPerSample, count: count)
    }
}

/// zlib's gzip stream over a duplicate of an open file's descriptor (so the file stays open for the caller),
/// reading from the start. Concatenated gzip members are read as one stream, as gunzip does.
final class Inflater {
    private let file: gzFile
    private let path: String

    init(_ data: borrowing DataFile) throws {
        path = data.path
        let duplicate = dup(data.descriptor)
        guard duplicate >= 0, lseek(duplicate, 0, SEEK_SET) == 0, let file = gzdopen(duplicate, "rb") else {
            throw DataError.unreadable(path: data.path, reason: "cannot open the gzip stream")
        }
        self.file = file
        gzbuffer(file, 1 << 17)
    }

    deinit { gzclose(file) }

    /// Reads up to `count` bytes; fewer only at the end of the stream. A damaged stream is an error naming zlib's
    /// reason.
    func read(into target: UnsafeMutableRawPointer, count: Int) throws -> Int {
        var done = 0
        while done < count {
            let chunk = UInt32(min(count - done, 1 << 30))
            let n = gzread(file, target + done, chunk)
            if n < 0 {
                var code: Int32 = 0
                let message = gzerror(file, &code).map { String(cString: $0) } ?? "unknown error"
                throw DataError.unreadable(path: path, reason: "gzip data is damaged (zlib: \(message))")
            }
            if n == 0 {
                // End of stream; zlib reports a stream cut short as an error only through gzerror.
                var code: Int32 = 0
                let message = gzerror(file, &code).map { String(cString: $0) } ?? ""
                if code != Z_OK && code != Z_STREAM_END {
                    throw DataError.unreadable(path: path, reason: "gzip data is damaged (zlib: \(message))")
                }
                break
            }
            done += Int(n)
        }
        return done
    }
}
