import Foundation
import VAEDistributed
import VAEModel

/// How a run's state begins: from a checkpoint (resume), from a weights file (`--init-from`), or fresh — and the
/// start-up agreement across ranks.
extension Trainer {
    /// Restores parameters, Adam state and position from a checkpoint after checking it fits this run (its
    /// configuration and training data; with `fineTune` the trajectory settings may differ, and the changes are
    /// returned). Collective; every rank agrees on success or on the error.
    @discardableResult
    public func restore(
        from source: ResumeSource, fineTune: Bool = false
    ) throws -> (path: String, changes: [TrainingConfiguration.SettingChange]) {
        let file = try CheckpointFile.read(source, store: store, communicator: communicator)
        let (metadata, changes) = try communicator.agree {
            let metadata = try file.decode(into: exchange)
            let changes = try metadata.check(against: configuration, data: data, path: file.name, fineTune: fineTune)
            return (metadata, changes)
        }
        exchange.publish()
        position = metadata.position
        if metadata.worldSize != communicator.size && !configuration.gradientExchange.sameBitsAtAnyRankCount
            && communicator.isLeader
        {
            let ranks = metadata.worldSize
            logger.warning(
                "\(file.name) was written by a run on \(ranks) rank(s) or threads, this one has \(communicator.size): it continues correctly, but its sums round differently from the original's; to continue bit for bit, resume with --threads \(ranks) (under mpirun: -n \(ranks))"
            )
        }
        return (file.path, changes)
    }

    /// Replaces the freshly initialized parameters with the model tensors of the safetensors file `path`
    /// (``ModelWeights``; Adam's state stays fresh). Collective: rank 0 reads the file, every rank checks the same
    /// bytes and agrees on any error. Returns the file's SHA-256 and the tensors it held that the model does not use.
    public func initialize(from path: String) throws -> (sha256: String, unused: [String]) {
        let file = try CheckpointFile.read(.path(path), communicator: communicator)
        let layout = model.layout
        let unused = try communicator.agree { () throws -> [String] in
            let target = exchange.writesState ? model.parameters : FlatBuffer(count: layout.count)
            return try ModelWeights.read(file.bytes, path: file.name, layout: layout, into: target)
        }
        exchange.publish()
        return (SHA256.hash(file.bytes).hexString, unused)
    }

    /// Start-up agreement on `--resume` (none, latest or a path), before anything collective depends on it (the
    /// CLI reads the checkpoint's settings first).
    public static func requireSameResume(_ resume: ResumeSource?, communicator: Communicator) throws {
        guard communicator.size > 1 else { return }
        let setting = "--resume (0 none, 1 latest, 2 a path)"
        try communicator.requireSame(
            Int64(resume == nil ? 0 : resume == .latest ? 1 : 2), what: setting,
            hint: "Start every rank with the same \(setting).")
    }

    /// Start-up agreement: every rank must have the same configuration, parameter count and data, and every
    /// setting that decides which collectives run (a mismatch stops every rank with a message naming the setting
    /// and the ranks), then rank 0's parameters are broadcast.
    public func synchronizeStart(resume: ResumeSource? = nil) throws {
        guard communicator.size > 1 else { return }
        func prefix(_ hex: String) -> Int64 { Int64(bitPattern: UInt64(hex.prefix(16), radix: 16) ?? 0) }
        try communicator.requireSame(
            prefix(configuration.trajectoryHash), what: "the configuration hash",
            hint: "Start every rank with the same --config and flags.")
        try communicator.requireSame(
            Int64(model.layout.count), what: "the parameter count",
            hint: "Start every rank with the same model settings.")
        try communicator.requireSame(
            prefix(data.trainFingerprint), what: "the training data fingerprint",
            hint: "Give every rank the same --data.")
        let c = configuration
        let schedule: [(String, Int)] = [
            ("--epochs (training.epochs)", c.epochs), ("--max-steps (training.max_steps)", c.maxSteps ?? -1),
            ("--checkpoint-every (run.checkpoint_every)", c.checkpointEvery),
            ("--divergence-check-every (run.divergence_check_every)", c.divergenceCheckEvery),
            ("--gradient-exchange (training.gradient_exchange)", ExchangeStrategy.allCases.firstIndex(of: c.gradientExchange)!),
            ("run.nll_importance_samples", c.nllImportanceSamples), ("run.nll_images", c.nllImages),
        ]
        for (setting, value) in schedule {
            try communicator.requireSame(Int64(value), what: setting, hint: "Start every rank with the same \(setting).")
        }
        try Trainer.requireSameResume(resume, communicator: communicator)
        exchange.broadcastParameters()
    }

    /// Takes the run folder (rank 0): its lock, leftover temp files removed, and for a fresh run the check that it
    /// holds no other run. Collective: every rank learns of a refusal.
    func lockRunFolder(resume: ResumeSource?) throws -> RunLock? {
        let leader = communicator.isLeader
        return try communicator.agree { () throws -> RunLock? in
            guard leader else { return nil }
            if resume == .latest, !FileManager.default.fileExists(atPath: store.directory) {
                throw TrainerError.nothingToResume(directory: store.directory)  // and create nothing
            }
            let (lock, removed) = try store.prepare()
            // A fresh run never writes into another run's folder (it would truncate its metrics and rotate its
            // checkpoints away).
            let previous = resume == nil ? RunFolder.previousRun(in: store.directory) : []
            if !previous.isEmpty { throw TrainerError.runFolderHoldsARun(directory: store.directory, files: previous) }
            if !removed.isEmpty {
                logger.info("removed leftover temp files from an interrupted save: \(removed.joined(separator: ", "))")
            }
            return lock
        }
    }

    /// Resumes or initializes the parameters as asked, then opens the report and records the start (run.json,
    /// config.json, the start line). The caller closes the report.
    func begin(resume: ResumeSource?, fineTune: Bool, initializeFrom: String?) throws -> TrainingReport {
        let leader = communicator.isLeader
        var changes: [TrainingConfiguration.SettingChange] = []
        var resumedFrom: String?
        if let resume {
            let path: String
            (path, changes) = try restore(from: resume, fineTune: fineTune)
            resumedFrom = path
            if leader {
                logger.info(
                    "resumed from \(path) at epoch \(position.epoch + 1), step \(position.stepInEpoch) of \(stepsPerEpoch) (global step \(position.globalStep))"
                )
            }
        }
        let initialWeights = try initializeFrom.map { path in (path, try initialize(from: path)) }
        let report = try TrainingReport(
            configuration: configuration, data: data, store: store, logger: logger,
            communicator: communicator, keepingThrough: position.globalStep)
        var origin: [String: Any] = [:]
        if let (path, (sha256, unused)) = initialWeights {
            report.initialized(from: path, sha256: sha256, unused: unused)
            origin["init_from"] = ["path": path, "sha256": sha256]
        }
        if let resumedFrom { origin["resumed_from"] = resumedFrom }
        do { try report.recordStart(origin: origin, globalStep: position.globalStep) } catch {
            report.close()
            throw error
        }
        if !changes.isEmpty { report.fineTuned(changes, globalStep: position.globalStep) }
        report.started(exchange: exchange, parameterCount: model.layout.count)
        return report
    }
}
