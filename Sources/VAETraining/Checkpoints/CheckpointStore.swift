import Foundation

/// A run folder's checkpoints: `checkpoint-step-NNNNNNNNN.safetensors` files, a `latest` pointer file
/// naming the newest, keep-last-N rotation. Every file is replaced atomically (see ``AtomicFile``).
public struct CheckpointStore {
    public let directory: String
    public let keep: Int
    public static let pointerName = "latest"

    public init(directory: String, keep: Int) {
        self.directory = directory
        self.keep = keep
    }

    public func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// `checkpoint-step-NNNNNNNNN.safetensors`: at least 9 digits, more past 999,999,999 (64-bit, never wrapping).
    public static func fileName(step: Int) -> String {
        let digits = String(step)
        return "checkpoint-step-" + String(repeating: "0", count: max(0, 9 - digits.count)) + digits + ".safetensors"
    }

    /// Creates the folder, takes its lock (held while the returned lock lives), then removes vae-dist's leftover
    /// temp files from an interrupted save.
    public func prepare() throws -> (lock: RunLock, removed: [String]) {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw FileError(path: directory, operation: "creating folder", code: errno == 0 ? EACCES : errno)
        }
        let lock = try RunLock(directory: directory)
        return (lock, AtomicFile.removeLeftovers(in: directory))
    }

    /// Writes the checkpoint for `step`, then points `latest` at it, then rotates. Returns its path.
    /// Throws (leaving the previous checkpoint and pointer untouched) if any write fails.
    @discardableResult
    public func save(_ bytes: [UInt8], step: Int) throws -> String {
        let name = CheckpointStore.fileName(step: step)
        try AtomicFile.write(bytes, to: path(name))
        try AtomicFile.write(Array((name + "\n").utf8), to: path(CheckpointStore.pointerName))
        rotate(keeping: name)
        return path(name)
    }

    /// Checkpoint files in the folder, oldest first.
    public func checkpoints() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix("checkpoint-step-") && $0.hasSuffix(".safetensors") }
            .sorted()
    }

    func rotate(keeping current: String) {
        let all = checkpoints()
        guard all.count > keep else { return }
        let best = try? self.best().map { ($0 as NSString).lastPathComponent }
        for name in all.prefix(all.count - keep) where name != current && name != best { unlink(path(name)) }
    }

    public static let bestPointerName = "best"

    /// Points `best` at the checkpoint of `step` (atomically, like `latest`); rotation never deletes it.
    public func markBest(step: Int) throws {
        try AtomicFile.write(Array((CheckpointStore.fileName(step: step) + "\n").utf8), to: path(CheckpointStore.bestPointerName))
    }

    /// The checkpoint `best` points to, or nil.
    public func best() throws -> String? {
        guard let data = try SmallFile.read(path(CheckpointStore.bestPointerName), limit: 4096) else { return nil }
        let name = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return name.isEmpty || name.contains("/") ? nil : path(name)
    }

    /// The checkpoint `latest` points to, or nil when the folder has none.
    public func latest() throws -> String? {
        let pointer = path(CheckpointStore.pointerName)
        let data: [UInt8]?
        do { data = try SmallFile.read(pointer, limit: 4096) } catch let refused as SmallFile.Refused {
            throw CheckpointError.format(
                path: pointer, problem: "the pointer \(refused.reason); remove it and resume from a checkpoint path")
        }
        guard let data else { return nil }
        let name = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, !name.contains("/") else {
            throw CheckpointError.format(path: path(CheckpointStore.pointerName), problem: "the pointer names no checkpoint file")
        }
        return path(name)
    }
}
