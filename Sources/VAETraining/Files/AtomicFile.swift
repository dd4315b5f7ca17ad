import Foundation
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A file-system error with the path and what to do.
public struct FileError: Error, CustomStringConvertible {
    public let path: String
    public let operation: String
    public let code: Int32
    /// What to do, when the default advice (folder, permissions, free space) is not it.
    public var hint: String?

    public init(path: String, operation: String, code: Int32, hint: String? = nil) {
        self.path = path
        self.operation = operation
        self.code = code
        self.hint = hint
    }

    public var description: String {
        "\(operation) \(path) failed: \(String(cString: strerror(code))) (errno \(code)). "
            + (hint ?? "Check that the folder exists, is writable and has free space.")
    }
}

/// Crash-safe file replacement: write a temp file in the same folder, fsync it, rename it over the
/// final name (atomic on POSIX), fsync the folder. A reader sees the old file or the new one, never a
/// partial one; a failure leaves the old file untouched and removes the temp file.
public enum AtomicFile {
    /// The prefix of every temp file vae-dist writes; only files with it are ever cleaned up.
    public static let temporaryPrefix = ".vae-dist-tmp."
    /// The temp file's suffix: this process and thread (threads of one process may write the same file, e.g. a
    /// data fingerprint's cache, each through its own temp file).
    public static var temporarySuffix: String { "\(getpid()).\(pthread_self())" }

    /// Replaces `path` (a regular file or a new name; a symlink, device, FIFO or folder there is refused, never
    /// replaced) with `bytes`.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        var info = stat()
        if lstat(path, &info) == 0, (info.st_mode & S_IFMT) != S_IFREG {
            throw FileError(
                path: path, operation: "writing", code: EEXIST,
                hint: "Something other than a regular file is there (a link, device, FIFO or folder); vae-dist writes only "
                    + "regular files and new paths. Choose another path.")
        }
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        let temporary = (folder as NSString).appendingPathComponent(
            "\(temporaryPrefix)\(url.lastPathComponent).\(temporarySuffix)")
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw FileError(path: temporary, operation: "creating", code: errno) }
        var committed = false
        defer { if !committed { unlink(temporary) } }
        do {
            defer { close(fd) }
            var written = 0
            try bytes.withUnsafeBytes { raw in
                while written < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw FileError(path: temporary, operation: "writing", code: errno)
                    }
                    written += n
                }
            }
            guard fsync(fd) == 0 else { throw FileError(path: temporary, operation: "fsync of", code: errno) }
        }
        guard rename(temporary, path) == 0 else { throw FileError(path: path, operation: "renaming onto", code: errno) }
        committed = true
        try syncFolder(folder)
    }

    /// fsync a folder so a rename in it is durable.
    public static func syncFolder(_ folder: String) throws {
        let fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError(path: folder, operation: "opening folder", code: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw FileError(path: folder, operation: "fsync of folder", code: errno) }
    }

    /// Removes vae-dist's own leftover temp files in `folder` (from a run killed mid-write). Returns their names.
    @discardableResult
    public static func removeLeftovers(in folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        let leftovers = names.filter { $0.hasPrefix(temporaryPrefix) }
        for name in leftovers { unlink((folder as NSString).appendingPathComponent(name)) }
        return leftovers
    }
}

/// Reads a small file whole — a configuration, the `latest` pointer, a fingerprint cache — without ever blocking on
/// a FIFO or device (opened non-blocking, then refused unless a regular file) or allocating more than `limit`.
public enum SmallFile {
    public struct Refused: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// The file's bytes, nil when nothing is at `path`; throws when something other than a regular file of at most
    /// `limit` bytes is there.
    public static func read(_ path: String, limit: Int) throws -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw Refused(path: path, reason: "cannot be opened (\(String(cString: strerror(errno))))")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw Refused(path: path, reason: "is not a regular file (a folder, FIFO or device)")
        }
        guard Int(info.st_size) <= limit else {
            throw Refused(path: path, reason: "is \(info.st_size) bytes, more than the \(limit) expected here")
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Refused(path: path, reason: "could not be read") }
            done += n
        }
        return bytes
    }
}
