import Foundation
import VAEDistributed

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

    /// Collective: the settings a run starts with. Its folder: `run.run_dir` when given; else for `--resume PATH` the
    /// checkpoint's own folder, otherwise `runs/RUN_NAME/version_N` (new for a fresh run, the newest for `--resume
    /// latest`), rank 0's pick for every rank. For a resume, the checkpoint's stored settings with what `requested`
    /// was explicitly given on top (``TrainingConfiguration/adopting(_:)``; the trainer refuses a change of the
    /// trajectory unless fine-tuning).
    public static func settings(
        _ requested: TrainingConfiguration, runName: String, resume: ResumeSource?, communicator: Communicator
    ) throws -> TrainingConfiguration {
        var settings = requested
        if !requested.givenKeys.contains("run.run_dir") {
            if case .path(let checkpoint)? = resume {
                let folder = (checkpoint as NSString).deletingLastPathComponent
                settings.runDirectory = folder.isEmpty ? "." : folder
            } else {
                let root = "runs/\(runName)", resuming = resume != nil
                let folder = try communicator.agree { () throws -> String in
                    guard let folder = pick(under: root, resuming: resuming) else {
                        throw TrainerError.nothingToResume(directory: root)
                    }
                    return folder
                }
                // Another rank could look after rank 0 has made its pick.
                settings.runDirectory = String(decoding: communicator.broadcast(bytes: Array(folder.utf8)), as: UTF8.self)
            }
        }
        try Trainer.requireSameResume(resume, communicator: communicator)
        guard let resume else { return settings }
        let folder = settings.runDirectory, given = settings
        let stored = try CheckpointFile.storedSettings(
            resume, store: CheckpointStore(directory: folder, keep: 1), communicator: communicator)
        var adopted = try communicator.agree { try stored.adopting(given) }
        adopted.runDirectory = folder
        return adopted
    }
}
