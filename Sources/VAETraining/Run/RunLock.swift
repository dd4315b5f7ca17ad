import Foundation

/// An exclusive lock on a run folder for a training run's lifetime (`flock` on `RUN_DIR/.lock`, which also holds
/// the holder's PID), so two trainings never share a folder: the second refuses, naming the first's PID, before it
/// touches anything (not even the first's in-flight temp files). The kernel releases the lock when the process
/// ends, however it ends.
public final class RunLock {
    public static let fileName = ".lock"
    private let descriptor: Int32

    /// Takes the lock of `directory` (which must exist), or throws naming the process that holds it.
    public init(directory: String) throws {
        let path = (directory as NSString).appendingPathComponent(RunLock.fileName)
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else { throw FileError(path: path, operation: "opening the run lock", code: errno) }
        // Never write into a file vae-dist did not make: a lock that is another file's hard link (or not a regular
        // file) is refused before it is locked or written.
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_nlink == 1 else {
            let links = info.st_nlink
            close(descriptor)
            throw FileError(
                path: path, operation: "opening the run lock", code: EEXIST,
                hint:
                    "It is not vae-dist's own lock file (\(links) hard links to it, or not a regular file); remove it and start again."
            )
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            var text = [UInt8](repeating: 0, count: 32)
            let n = pread(descriptor, &text, text.count, 0)
            close(descriptor)
            let holder =
                n > 0 ? String(decoding: text.prefix(n), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            guard code == EWOULDBLOCK else { throw FileError(path: path, operation: "locking", code: code) }
            throw FileError(
                path: directory, operation: "locking the run folder", code: code,
                hint:
                    "Another vae-dist (PID \(holder)) is training in this folder; wait for it to finish, or choose another --run-dir."
            )
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }  // releases the lock
}
