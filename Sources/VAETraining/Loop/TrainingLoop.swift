import Foundation
import VAEDistributed
import VAEModel
import VAESettings

/// What one call of ``Trainer/run(resume:fineTune:initializeFrom:)`` keeps between its steps and epochs: the report,
/// the checkpoints written, the epoch summaries. The same on every rank, so every rank makes the same (collective)
/// save calls.
final class TrainingRun {
    let report: TrainingReport
    let stepsPerEpoch: Int
    let lastStep: Int
    let clock = ContinuousClock()
    var summaries: [EpochSummary] = []
    var lastCheckpoint: String?
    var savedStep: Int?

    init(report: TrainingReport, stepsPerEpoch: Int, lastStep: Int) {
        self.report = report
        self.stepsPerEpoch = stepsPerEpoch
        self.lastStep = lastStep
    }
}

extension Trainer {
    /// Trains from the current position (or from `resume`, or from the weights of `initializeFrom`) to the
    /// configured epochs or max steps. `fineTune`: resuming may change trajectory settings (logged, and recorded in
    /// metrics.jsonl); without it a change is refused with each key's values.
    public func run(resume: ResumeSource? = nil, fineTune: Bool = false, initializeFrom: String? = nil) throws -> TrainingSummary
    {
        if communicator.size > 1 { communicator.startWatchdog(limitSeconds: configuration.collectiveTimeout) }
        hooks?.beforeStep(0, trainer: self)
        try synchronizeStart(resume: resume)
        let lock = try lockRunFolder(resume: resume)
        defer { withExtendedLifetime(lock) {} }
        let report = try begin(resume: resume, fineTune: fineTune, initializeFrom: initializeFrom)
        defer { report.close() }
        let run = TrainingRun(
            report: report, stepsPerEpoch: stepsPerEpoch,
            lastStep: min(configuration.epochs * stepsPerEpoch, configuration.maxSteps ?? .max))
        while position.epoch < configuration.epochs && position.globalStep < run.lastStep {
            let order = epochPermutation(count: data.train.count, seed: configuration.seed, epoch: position.epoch)
            let epochStart = run.clock.now
            report.epochStarted()
            while position.stepInEpoch < run.stepsPerEpoch && position.globalStep < run.lastStep {
                try trainStep(order: order, run: run)
            }
            guard position.stepInEpoch == run.stepsPerEpoch, try endEpoch(startedAt: epochStart, run: run) else { break }
        }
        // A run that stops inside an epoch (max steps) saves where it stopped, unless that step is saved already.
        if position.stepInEpoch > 0 && run.savedStep != position.globalStep { try save(run) }
        // The epoch-end records are the last writes: a failure among them still ends the run with its error.
        if stopRequested(writeFailed: report.writeFailure != nil) { throw stopError(report, checkpoint: run.lastCheckpoint) }
        report.finished()
        return TrainingSummary(
            position: position, epochs: run.summaries, samplesPerSecond: report.samplesPerSecond,
            lastCheckpoint: run.lastCheckpoint)
    }

    /// Writes a checkpoint of the current position (collective).
    func save(_ run: TrainingRun) throws {
        run.lastCheckpoint = try saveCheckpoint() ?? run.lastCheckpoint
        run.savedStep = position.globalStep
    }

    /// One step of the epoch whose sample order is `order`: the step itself, its report, the checkpoints and checks
    /// that follow it, and the agreed stop (a signal, a failed log write, a data file that shrank).
    func trainStep(order: [Int32], run: TrainingRun) throws {
        let config = configuration, total = run.stepsPerEpoch
        let lower = position.stepInEpoch * config.batchSize, upper = min(lower + config.batchSize, data.train.count)
        communicator.watch(step: position.globalStep + 1)
        hooks?.beforeStep(position.globalStep + 1, trainer: self)
        applySchedules(step: position.globalStep + 1, stepsPerEpoch: total)
        let stepStart = run.clock.now
        let faultsBefore = readFaults()
        if position.stepInEpoch == 0 {
            order.withUnsafeBufferPointer { touchRows(UnsafeBufferPointer(rebasing: $0[lower..<upper])) }
        }
        let terms = order.withUnsafeBufferPointer {
            step(indices: UnsafeBufferPointer(rebasing: $0[lower..<upper]), epoch: position.epoch)
        }
        let faultsAfterStep = readFaults()
        let seconds = (run.clock.now - stepStart).seconds
        // The terms are global sums, so every rank sees the same value and stops at the same step.
        if !terms.reconstruction.isFinite || !terms.kl.isFinite {
            let term = terms.reconstruction.isFinite ? "KL term" : "reconstruction loss"
            throw CollectiveFailure(
                failedRanks: Array(0..<communicator.size),
                local: TrainerError.nonFiniteLoss(step: position.globalStep + 1, term: term), summary: nil)
        }
        position.globalStep += 1
        position.stepInEpoch += 1
        position.epochTerms += terms
        run.report.stepFinished(
            terms, seconds: seconds, position: position, stepsPerEpoch: total, lastStep: run.lastStep,
            learningRate: optimizer.hyperparameters.learningRate, klWeight: model.klWeight,
            gradientNorm: exchange.clipper.maxNorm > 0 ? exchange.clipper.lastNorm : nil)
        if config.checkpointEvery > 0 && position.globalStep % config.checkpointEvery == 0 && position.stepInEpoch < total {
            try save(run)
        }
        hooks?.afterStep(position.globalStep, trainer: self)
        if config.divergenceCheckEvery > 0 && position.globalStep % config.divergenceCheckEvery == 0 {
            try checkReplicasAgree()
        }
        // The next step's rows, touched now: a file that shrank is found before its bytes are used.
        if position.stepInEpoch < total && position.globalStep < run.lastStep {
            let next = upper, end = min(next + config.batchSize, data.train.count)
            order.withUnsafeBufferPointer { touchRows(UnsafeBufferPointer(rebasing: $0[next..<end])) }
        }
        // Any fault ends the run, so a count above zero is new: 2 if it came during this step, else 1.
        let dataFault: Double = faultsAfterStep > faultsBefore ? 2 : (readFaults() > 0 ? 1 : 0)
        if stopRequested(writeFailed: run.report.writeFailure != nil, dataFault: dataFault) {
            if stopFlag[2] != 0 { throw try dataFaultError(during: "at step \(position.globalStep)", run: run) }
            let saveFailure = run.savedStep != position.globalStep ? try saveForStop { try save(run) } : nil
            throw stopError(run.report, checkpoint: run.lastCheckpoint, saveFailure: saveFailure)
        }
    }

    /// The epoch's end: validation and test passes, their report, images and the NLL, the best checkpoint and the
    /// epoch's own, early stopping. Returns false when training stops early.
    func endEpoch(startedAt epochStart: ContinuousClock.Instant, run: TrainingRun) throws -> Bool {
        let config = configuration, epoch = position.epoch, report = run.report
        let summary = EpochSummary(
            epoch: epoch + 1, train: position.epochTerms, validation: data.validation.map(evaluate),
            test: data.test.map(evaluate), seconds: (run.clock.now - epochStart).seconds)
        // A held-out file that shrank under the passes: their losses are not reported; the parameters are the
        // epoch's last step's, good, and checkpointed.
        if stopRequested(writeFailed: false, dataFault: readFaults() > 0 ? 1 : 0), stopFlag[2] != 0 {
            throw try dataFaultError(during: "in epoch \(epoch + 1)'s validation and test passes", run: run)
        }
        run.summaries.append(summary)
        report.epochFinished(summary, globalStep: position.globalStep)
        try communicator.agree {
            try report.images(of: model, filler: batches.filler, epoch: epoch + 1, globalStep: position.globalStep)
        }
        if config.nllImportanceSamples > 0, let heldOut = data.heldOut {
            // The importance-weighted NLL on the first test images, split across ranks (a collective).
            let nll = ImportanceWeightedNLL.estimate(
                model: model, dataset: heldOut, filler: batches.filler,
                communicator: communicator, seed: config.seed,
                samples: config.nllImportanceSamples, images: config.nllImages)
            if !nll.interrupted { report.nllFinished(nll, epoch: epoch + 1, globalStep: position.globalStep) }
        }
        // The best validation loss so far travels in the checkpoint (early stopping resumes exactly).
        var improved = false
        if let validation = summary.validation?.perSample.loss,
            position.bestValidationLoss.map({ validation < $0 }) ?? true
        {
            position.bestValidationLoss = validation
            position.bestEpoch = epoch + 1
            improved = true
        }
        position.epoch += 1
        position.stepInEpoch = 0
        position.epochTerms = LossTerms()
        try save(run)
        if improved {
            let (step, leader) = (position.globalStep, communicator.isLeader)
            try communicator.agree { if leader { try store.markBest(step: step) } }
        }
        let patience = config.settings[EarlyStopping.patience]
        guard patience > 0 && position.epoch - position.bestEpoch >= patience else {
            return true
        }
        if communicator.isLeader {
            logger.info(
                "early stop after epoch \(position.epoch): the validation loss has not improved for \(patience) epoch(s); best \(String(format: "%.4f", position.bestValidationLoss ?? .nan)) after epoch \(position.bestEpoch) (checkpoint pointer 'best')"
            )
        }
        return false
    }
}

/// Early stopping: the run ends after `training.early_stop_patience` epochs without a better validation loss (read
/// at each epoch's end above; the trainer refuses it without a validation set).
enum EarlyStopping {
    static let patience = Setting<Int>(
        "training.early_stop_patience", default: 0, min: 0,
        help: "stop after this many epochs without a better validation loss (0: never)")
}
