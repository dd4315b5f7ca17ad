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
    public var description: String {
        "\(operation) \(path) failed: \(String(cString: strerror(code))) (errno \(code)). "
            + "Check that the folder exists, is writable and has free space."
    }
}

/// Crash-safe file replacement: write a temp file in the same folder, fsync it, rename it over the
/// final name (atomic on POSIX), fsync the folder. A reader sees the old file or the new one, never a
/// partial one; a failure leaves the old file untouched and removes the temp file.
public enum AtomicFile {
    /// The prefix of every temp file vae-dist writes; only files with it are ever cleaned up.
    public static let temporaryPrefix = ".vae-dist-tmp."

    public static func write(_ bytes: [UInt8], to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        let temporary = (folder as NSString).appendingPathComponent(
            "\(temporaryPrefix)\(url.lastPathComponent).\(getpid())")
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
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
