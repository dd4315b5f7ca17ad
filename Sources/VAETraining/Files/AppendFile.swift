import Foundation

/// A file written by appending whole records (metrics.jsonl, the TensorBoard event file), through POSIX calls so
/// that a failed write is an error, never a trap (Foundation's `FileHandle.write` traps on ENOSPC). A record that
/// fails part-way is cut off again (`ftruncate` to the last whole record), so the file never ends torn; after the
/// first failure the file takes no more writes and `failure` says why.
public final class AppendFile {
    public let path: String
    private var descriptor: Int32
    /// Bytes of whole records in the file.
    private var size: Int
    /// The first failed write, if any.
    public private(set) var failure: FileError?

    /// Opens `path` for appending, creating it when missing.
    public init(path: String) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else { throw FileError(path: path, operation: "opening", code: errno) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            Glibc.close(descriptor)
            throw FileError(path: path, operation: "opening (not a regular file)", code: EINVAL)
        }
        size = Int(info.st_size)
    }

    deinit { close() }

    /// Appends `bytes` as one record; false (and `failure` set) when it could not be written whole.
    @discardableResult
    public func append(_ bytes: [UInt8]) -> Bool {
        guard failure == nil, descriptor >= 0 else { return false }
        var done = 0
        let code: Int32? = bytes.withUnsafeBytes { raw in
            while done < raw.count {
                let n = write(descriptor, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return n < 0 ? errno : ENOSPC }
                done += n
            }
            return nil
        }
        if let code {
            failure = FileError(path: path, operation: "writing", code: code)
            if done > 0 { _ = ftruncate(descriptor, off_t(size)) }  // no torn record
            return false
        }
        size += done
        return true
    }

    /// Flushes to disk and closes (errors here lose nothing already reported).
    public func close() {
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        _ = Glibc.close(descriptor)
        descriptor = -1
    }
}
