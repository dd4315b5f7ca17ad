import Foundation
import Logging
import VAEDistributed
import VAEModel
import VAESettings

/// Where to resume from.
public enum ResumeSource: Equatable, Sendable {
    /// The checkpoint the run folder's `latest` pointer names.
    case latest
    /// A checkpoint file.
    case path(String)

    /// `latest` or a path.
    public init(_ argument: String) { self = argument == "latest" ? .latest : .path(argument) }
}

/// Calls around every training step, for what watches a run from outside the loop (the fault-tolerance tests'
/// injected faults). Nil in normal use.
public protocol TrainingHooks: AnyObject {
    /// Before global step `step` (1-based) runs; step 0: before the start-up agreement.
    func beforeStep(_ step: Int, trainer: Trainer)
    /// After global step `step` and its checkpoint, before the replica check.
    func afterStep(_ step: Int, trainer: Trainer)
}

/// Data-parallel VAE training over a ``Communicator``: the loop and its state.
///
/// The configured batch is the *global* batch of the shared epoch permutation; how each rank computes its part,
/// how the gradients are summed and how Adam steps is the ``GradientExchange``'s business (one type per
/// strategy). Rank 0 alone logs and writes files (``TrainingReport``, checkpoints).
public final class Trainer {
    public let configuration: TrainingConfiguration
    /// The configuration's schedules, built once (a step allocates nothing).
    let learningRateSchedule: LearningRateSchedule, klSchedule: KLSchedule
    public let data: DataSplits
    public let communicator: Communicator
    public var logger: Logger
    /// Sums the gradients and takes the optimizer step; owns the model and the optimizer.
    public let exchange: any GradientExchange
    public let store: CheckpointStore
    public internal(set) var position = TrainingPosition()
    /// The training set and its random draws, as the exchange's batch source.
    let batches: TrainingBatches
    /// Per-phase step timings, recorded only when set (the benchmark).
    public var profile: StepProfile?
    /// Called around every step (tests' fault injection); nil in normal use.
    public var hooks: TrainingHooks?
    /// Three doubles for the per-step stop agreement: the signal received, whether rank 0's logs failed, and whether
    /// a data file shrank under its mapping (1: found before its bytes were used, 2: during the step).
    let stopFlag = UnsafeMutableBufferPointer<Double>.allocate(capacity: 3)
    /// The bytes the pre-step touches read (kept, so the reads are made).
    var touched: UInt8 = 0

    /// The model (its parameters, gradients and activations live where the exchange keeps them).
    public var model: VariationalAutoencoder { exchange.model }
    /// Adam, over the same flat layout.
    public var optimizer: Adam { exchange.optimizer }

    /// A trainer at step 0 with freshly initialized parameters. `exchange` replaces the one the configuration
    /// asks for (tests' negative controls); it must be built for this configuration.
    public init(
        configuration: TrainingConfiguration, data: DataSplits, communicator: Communicator = SingleProcessCommunicator(),
        logger: Logger = Logger(label: "vae-dist"), exchange: (any GradientExchange)? = nil
    ) throws {
        try configuration.checkFitsMemory()  // input_size may have followed the data since validate()
        let layout = ParameterLayout(configuration.architecture)
        guard data.train.pixelsPerImage == layout.architecture.inputSize else {
            throw TrainerError.inputSizeMismatch(data: data.train.pixelsPerImage, model: layout.architecture.inputSize)
        }
        try data.checkWidths()
        try Trainer.checkValues(of: data, configuration: configuration)
        if configuration.settings[EarlyStopping.patience] > 0 && data.validation == nil {
            throw TrainerError.earlyStoppingWithoutValidation
        }
        if configuration.dropLast && data.train.count < configuration.batchSize {
            throw TrainerError.dataTooSmall(samples: data.train.count, batchSize: configuration.batchSize)
        }
        self.configuration = configuration
        (learningRateSchedule, klSchedule) = (configuration.learningRateSchedule, configuration.klSchedule)
        self.data = data
        self.communicator = communicator
        self.logger = logger
        self.exchange =
            try exchange
            ?? configuration.gradientExchange.make(
                communicator: communicator,
                settings: ExchangeSettings(configuration)
            ) {
                logger.warning("\($0)")
            }
        if self.exchange.writesState { layout.initialize(self.exchange.model.parameters, seed: configuration.seed) }
        self.exchange.publish()
        store = CheckpointStore(directory: configuration.runDirectory, keep: configuration.keepCheckpoints)
        if configuration.standardize && data.train.channelsLast {
            throw ConfigurationError(
                key: "data.standardize",
                problem:
                    "standardizes values in file order, and this data is channels-last; give it as [N, C, H, W] (data.layout)")
        }
        let standardization = configuration.standardize ? Standardization.measure(data.train) : nil
        batches = TrainingBatches(
            dataset: data.train,
            filler: BatchFiller(
                seed: configuration.seed, binarization: configuration.binarization, standardization: standardization,
                flip: configuration.settings[TrainingBatches.flip]))
        if configuration.blasThreads > 0 { BLAS.setThreadCount(configuration.blasThreads) }
    }

    deinit { stopFlag.deallocate() }

    /// Data the configuration cannot train on: a binarization of float data, values outside [0, 1] for a
    /// likelihood that models only those (one pass over float data; byte data is grey levels by construction).
    static func checkValues(of data: DataSplits, configuration: TrainingConfiguration) throws {
        guard data.train.storage.type != .uint8 else { return }
        if configuration.binarization != .none {
            throw TrainerError.binarizedFloatData(binarization: configuration.binarization.rawValue)
        }
        let likelihood = configuration.architecture.likelihood
        guard likelihood.acceptsBinarizedTargets else { return }
        for (split, dataset) in [("training", data.train), ("validation", data.validation), ("test", data.test)] {
            if let (sample, value) = dataset?.firstValueOutsideUnitInterval() {
                throw TrainerError.valuesOutsideUnitInterval(
                    split: split, sample: sample, value: value, likelihood: likelihood.name)
            }
        }
    }

    /// Optimizer steps in one epoch.
    public var stepsPerEpoch: Int {
        let n = data.train.count, b = configuration.batchSize
        return configuration.dropLast ? n / b : (n + b - 1) / b
    }

    /// Writes a checkpoint of the current state (rank 0 only) and logs it once it is committed. Collective: every
    /// rank calls it (the exchange may gather the optimizer's moments first), and every rank throws if rank 0's
    /// write failed.
    @discardableResult
    public func saveCheckpoint() throws -> String? {
        exchange.gatherOptimizerState()
        return try communicator.agree {
            guard communicator.isLeader else { return nil }
            // A checkpoint of non-finite state could never be loaded: refuse to write one.
            for (name, buffer) in [
                ("parameters", model.parameters), ("Adam first moments", optimizer.firstMoment),
                ("Adam second moments", optimizer.secondMoment),
            ] {
                if let index = buffer.firstNonFinite() {
                    throw TrainerError.nonFiniteState(step: position.globalStep, buffer: name, index: index)
                }
            }
            let bytes = Checkpoint.encode(
                layout: model.layout, parameters: model.parameters, adam: optimizer,
                metadata: .init(
                    position: position, adamStep: optimizer.step, configurationJSON: configuration.trajectoryJSON,
                    dataFingerprint: data.trainFingerprint, worldSize: communicator.size,
                    standardization: batches.filler.standardization, settingsJSON: configuration.resolvedJSON))
            let path = try store.save(bytes, step: position.globalStep)
            logger.info("saved checkpoint \(path) (step \(position.globalStep))")
            return path
        }
    }

    /// Sets the learning rate and β that the schedules give global step `step` (no allocation; a constant schedule
    /// gives the configured values, bit for bit).
    public func applySchedules(step: Int, stepsPerEpoch: Int) {
        let c = configuration
        exchange.optimizer.hyperparameters.learningRate = learningRateSchedule.rate(
            at: step, base: c.adam.learningRate, stepsPerEpoch: stepsPerEpoch, horizon: c.epochs * stepsPerEpoch)
        exchange.model.klWeight = Float(klSchedule.weight(at: step, base: c.klWeight))
    }

    /// One optimizer step on the global batch `indices`. No allocation. Returns the batch's loss sums over all ranks.
    public func step(indices: UnsafeBufferPointer<Int32>, epoch: Int) -> LossTerms {
        exchange.step(indices: indices, epoch: epoch, source: batches, profile: profile)
    }

    /// Loss sums of `dataset` under the current parameters, with fixed ε and binarization keys (so the number is
    /// a pure function of the parameters), split across ranks and reduced.
    public func evaluate(_ dataset: ImageDataset) -> LossTerms {
        TestPass.loss(of: dataset, exchange: exchange, filler: batches.filler)
    }

    /// Whether any rank received SIGTERM/SIGINT or rank 0 could not write its logs (`writeFailed`; agreed by one
    /// MAX all-reduce, so all ranks stop after the same step). The signal number is left in `stopFlag[0]`, the
    /// write failure in `stopFlag[1]`.
    func stopRequested(writeFailed: Bool, dataFault: Double = 0) -> Bool {
        stopFlag[0] = Double(StopSignal.signal)
        stopFlag[1] = writeFailed ? 1 : 0
        stopFlag[2] = dataFault
        if communicator.size > 1 { communicator.allReduce(stopFlag, .max) }
        return stopFlag[0] != 0 || stopFlag[1] != 0 || stopFlag[2] != 0
    }

    /// Every data set's read faults so far: a mapped file that shrank under training (0 in normal use).
    func readFaults() -> Int {
        data.train.storage.readFaults + (data.validation?.storage.readFaults ?? 0) + (data.test?.storage.readFaults ?? 0)
    }

    /// Reads a byte of each page this rank's rows of the step `indices` will read, before the step: a data file
    /// that shrank is then found while the parameters are still the last good step's (docs/faults.md).
    func touchRows(_ indices: UnsafeBufferPointer<Int32>) {
        let rows = exchange.slice(of: indices.count)
        touched ^= data.train.touch(UnsafeBufferPointer(rebasing: indices[rows]))
    }

    /// After an agreed data fault: the error, naming the files that shrank on this rank (the others name the ranks
    /// that saw it), after the checkpoint of the last good step where there is one.
    func dataFaultError(during: String, run: TrainingRun) throws -> Error {
        let clean = stopFlag[2] < 2
        if clean && run.savedStep != position.globalStep { try save(run) }
        let local = readFaults() > 0
        let ranks = communicator.size > 1 ? communicator.gather(Int64(local ? 1 : 0)) : [1]
        let failed = ranks.indices.filter { ranks[$0] != 0 }
        let files = [data.train, data.validation, data.test].flatMap { $0?.storage.shrunkenFiles ?? [] }
        return CollectiveFailure(
            failedRanks: failed,
            local: local
                ? TrainerError.dataFileShrank(
                    files: Array(Set(files)).sorted(), step: position.globalStep, during: during,
                    checkpoint: run.lastCheckpoint, checkpointed: clean)
                : nil,
            summary: nil)
    }

    /// After an agreed stop: the write failure (rank 0's message, with the stop checkpoint's own failure if that
    /// failed too; the others name rank 0), else the signal.
    func stopError(_ report: TrainingReport, checkpoint: String?, saveFailure: Error? = nil) -> Error {
        guard stopFlag[1] != 0 else {
            return Interrupted(signal: Int32(stopFlag[0]), step: position.globalStep, checkpoint: checkpoint)
        }
        let local = report.writeFailure.map {
            TrainerError.reportWriteFailed($0, checkpoint: checkpoint, saveFailure: saveFailure.map { "\($0)" })
        }
        return CollectiveFailure(failedRanks: [0], local: local, summary: nil)
    }

    /// The stop's checkpoint: its failure is the error, unless the stop is a failed log write (then both are told).
    func saveForStop(_ save: () throws -> Void) throws -> Error? {
        do { try save() } catch {
            if stopFlag[1] == 0 { throw error }
            return error
        }
        return nil
    }

    /// Compares a hash of the parameters across ranks; stops every rank, naming the ones that differ from rank 0.
    public func checkReplicasAgree() throws {
        guard communicator.size > 1 else { return }
        let hashes = communicator.gather(Int64(bitPattern: model.parameters.fingerprint))
        let differing = hashes.indices.filter { hashes[$0] != hashes[0] }
        guard differing.isEmpty else {
            throw CollectiveFailure(
                failedRanks: differing, local: nil,
                summary:
                    "replicas diverged at step \(position.globalStep): the parameters of rank\(differing.count == 1 ? "" : "s") "
                    + "\(differing.map(String.init).joined(separator: ", ")) differ from rank 0's. Resume from the last checkpoint; "
                    + "if it recurs, check the machines (memory errors) and that every rank runs the same build.")
        }
    }
}
