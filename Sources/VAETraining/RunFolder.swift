import Foundation

/// Run folders: without `--run-dir` each run gets a new `runs/NAME/version_N` (NAME: the configuration file's name,
/// or `default`), as Lightning numbers them; `--resume` without `--run-dir` continues the newest. A fresh run never
/// writes into a folder that holds another run's files.
public enum RunFolder {
    /// The `version_N` folders under `root`, by N.
    static func versions(under root: String) -> [Int] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap { $0.hasPrefix("version_") ? Int($0.dropFirst("version_".count)) : nil }.sorted()
    }

    /// `root/version_N` for the first N past every existing one (a new run), or the newest existing one when
    /// `resuming` (nil when there is none).
    public static func pick(under root: String, resuming: Bool) -> String? {
        let existing = versions(under: root)
        if resuming { return existing.last.map { (root as NSString).appendingPathComponent("version_\($0)") } }
        return (root as NSString).appendingPathComponent("version_\((existing.last ?? -1) + 1)")
    }

    /// The files in `directory` that belong to a run (checkpoints, pointers, metrics, event files).
    public static func previousRun(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter {
            ($0.hasPrefix("checkpoint-step-") && $0.hasSuffix(".safetensors")) || $0 == CheckpointStore.pointerName
                || $0 == "metrics.jsonl" || $0.hasPrefix("events.out.tfevents.") || $0 == "config.json" || $0 == "run.json"
        }.sorted()
    }
}
