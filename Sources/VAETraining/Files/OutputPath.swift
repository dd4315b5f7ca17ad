import Foundation

/// What a command that writes a file the user names (`export --out`, `sample --out`/`--raw-out`) may replace
/// (docs/faults.md, "What a writer may replace"):
/// - never the command's own inputs (the same file, by device and inode, whatever the path says);
/// - never a vae-dist checkpoint, nor a run folder's own files (`latest`, `best`, `config.json`, `run.json`,
///   `metrics.jsonl`, event files, the run lock): those belong to `train`;
/// - never the same file twice in one command;
/// - any other existing regular file only with `--force`; something that is not a regular file never
///   (``AtomicFile``).
public enum OutputPath {
    /// The reason a command may not write `path`, as an error telling the user what to do.
    public struct Refused: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "not writing \(path): \(reason)" }
    }

    /// Checks every output of one command before any work: `outputs` by option name (nil: not given), `inputs` the
    /// files it reads.
    public static func check(_ outputs: [(option: String, path: String?)], inputs: [String], force: Bool) throws {
        let given = outputs.compactMap { output in output.path.map { (output.option, $0) } }
        for (index, (option, path)) in given.enumerated() {
            if let (otherOption, _) = given[..<index].first(where: { sameFile($0.1, path) || $0.1 == path }) {
                throw Refused(path: path, reason: "\(otherOption) and \(option) name the same file; give each its own path")
            }
            try check(path, option: option, inputs: inputs, force: force)
        }
    }

    static func check(_ path: String, option: String, inputs: [String], force: Bool) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }  // a new path
        guard (info.st_mode & S_IFMT) == S_IFREG else { return }  // AtomicFile refuses it, with its own words
        if let input = inputs.first(where: { sameFile($0, path) }) {
            throw Refused(path: path, reason: "it is this command's input (\(input)); choose another \(option)")
        }
        let name = (path as NSString).lastPathComponent
        if runFolderNames.contains(name) || name.hasPrefix("events.out.tfevents.") {
            throw Refused(path: path, reason: "'\(name)' is a run folder's own file (train owns it); choose another \(option)")
        }
        if isCheckpoint(path) {
            throw Refused(
                path: path,
                reason:
                    "it is a vae-dist checkpoint (train owns it; replacing it loses the run's optimizer state); choose another \(option)"
            )
        }
        guard force else {
            throw Refused(path: path, reason: "the file exists; give --force to replace it, or choose another \(option)")
        }
    }

    /// The names of a run folder's own files besides its checkpoints.
    static let runFolderNames: Set<String> = [
        CheckpointStore.pointerName, CheckpointStore.bestPointerName, "config.json", "run.json", "metrics.jsonl",
        RunLock.fileName,
    ]

    /// Whether two paths name the same existing file (device and inode, links followed).
    static func sameFile(_ a: String, _ b: String) -> Bool {
        var x = stat(), y = stat()
        guard stat(a, &x) == 0, stat(b, &y) == 0 else { return false }
        return x.st_dev == y.st_dev && x.st_ino == y.st_ino
    }

    /// Whether the regular file at `path` is a vae-dist checkpoint: its safetensors header (read by the checkpoint
    /// reader's own checked path, the header alone) names the format.
    static func isCheckpoint(_ path: String) -> Bool {
        (try? CheckpointFile.readChecked(path, headerOnly: true))?.metadata["format"] == Checkpoint.format
    }
}
