import Foundation
import VAEModel

/// Where training stands: enough, with the parameters and Adam state, to continue bit for bit.
/// All randomness is keyed by (seed, epoch, sample index), so no generator state is needed.
public struct TrainingPosition: Equatable, Sendable {
    /// Optimizer steps taken in total.
    public var globalStep = 0
    /// The epoch in progress (0-based).
    public var epoch = 0
    /// Steps already taken in `epoch`.
    public var stepInEpoch = 0
    /// The running training-loss sums of `epoch`, so the epoch summary is exact after a mid-epoch resume.
    public var epochTerms = LossTerms()
    /// The lowest validation loss per sample at an epoch end so far, and that epoch (1-based; 0: none yet), for
    /// the `best` pointer and early stopping across resumes.
    public var bestValidationLoss: Double? = nil
    public var bestEpoch = 0

    public init(globalStep: Int = 0, epoch: Int = 0, stepInEpoch: Int = 0, epochTerms: LossTerms = LossTerms()) {
        self.globalStep = globalStep
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
        self.epochTerms = epochTerms
    }
}

/// A checkpoint error naming the file and what to do.
public enum CheckpointError: Error, CustomStringConvertible {
    case notFound(path: String)
    case format(path: String, problem: String)
    case checksum(path: String, stored: String, computed: String)
    case nonFinite(path: String, tensor: String, index: Int)
    case missingTensor(path: String, tensor: String)
    case unexpectedTensor(path: String, tensor: String)
    case shapeMismatch(path: String, tensor: String, checkpoint: [Int], model: [Int])
    case configurationMismatch(path: String, changes: [TrainingConfiguration.SettingChange])
    case dataMismatch(path: String, checkpoint: String, current: String)

    public var description: String {
        switch self {
        case .notFound(let path):
            return
                "checkpoint \(path) not found. Pass --resume latest with the run's --run-dir, or an existing .safetensors file."
        case .format(let path, let problem):
            return "checkpoint \(path): \(problem)."
        case .checksum(let path, let stored, let computed):
            return
                "checkpoint \(path): data SHA-256 is \(computed) but the file records \(stored); the file is corrupt. Resume from an older checkpoint."
        case .nonFinite(let path, let tensor, let index):
            return "checkpoint \(path): tensor \(tensor) holds a non-finite value at element \(index); refusing to load it."
        case .missingTensor(let path, let tensor):
            return "checkpoint \(path): tensor \(tensor) is missing; the checkpoint is from another architecture."
        case .unexpectedTensor(let path, let tensor):
            return "checkpoint \(path): tensor \(tensor) is not part of this model; the checkpoint is from another architecture."
        case .shapeMismatch(let path, let tensor, let checkpoint, let model):
            return
                "checkpoint \(path): tensor \(tensor) has shape \(checkpoint) but the model needs \(model); the checkpoint is from another architecture or config."
        case .configurationMismatch(let path, let changes):
            return
                "resuming \(path) would change how it trains: \(changes.map(\.description).joined(separator: "; ")). Leave these settings out (--resume takes the checkpoint's), or pass --fine-tune to continue from the checkpoint with the new values."
        case .dataMismatch(let path, let checkpoint, let current):
            return
                "checkpoint \(path) was trained on data with SHA-256 \(checkpoint), but the data given has \(current); pass the same --data (to train these weights on other data, start a fresh run with --init-from \(path))."
        }
    }
}
