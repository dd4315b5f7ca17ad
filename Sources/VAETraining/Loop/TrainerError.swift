import Foundation

/// A trainer error with what to do about it.
public enum TrainerError: Error, CustomStringConvertible {
    case nothingToResume(directory: String)
    case dataTooSmall(samples: Int, batchSize: Int)
    case inputSizeMismatch(data: Int, model: Int)
    case nonFiniteLoss(step: Int, term: String)
    case binarizedFloatData(binarization: String)
    case valuesOutsideUnitInterval(split: String, sample: Int, value: Double, likelihood: String)
    case reportWriteFailed(FileError, checkpoint: String?, saveFailure: String?)
    case dataFileShrank(files: [String], step: Int, during: String, checkpoint: String?, checkpointed: Bool)
    case emptySplit(split: String, source: String)
    case earlyStoppingWithoutValidation
    case runFolderHoldsARun(directory: String, files: [String])
    case nonFiniteState(step: Int, buffer: String, index: Int)

    public var description: String {
        switch self {
        case .nothingToResume(let directory):
            return
                "--resume latest: \(directory) has no 'latest' checkpoint pointer. Train without --resume first, or pass a checkpoint path."
        case .dataTooSmall(let samples, let batchSize):
            return
                "the training set has \(samples) samples, fewer than one batch of \(batchSize) with drop_last; lower --batch-size."
        case .inputSizeMismatch(let data, let model):
            return "the data has \(data) pixels per image but model.input_size is \(model); set model.input_size to \(data)."
        case .binarizedFloatData(let binarization):
            return
                "data.binarization \(binarization) draws from grey levels, and this data set holds floats; use binarization none."
        case .valuesOutsideUnitInterval(let split, let sample, let value, let likelihood):
            return
                "the \(split) set has the value \(value) (sample \(sample)) outside [0, 1], which a \(likelihood) likelihood cannot model; "
                + "use model.likelihood gaussian for real-valued data, or scale the data into [0, 1]."
        case .dataFileShrank(let files, let step, let during, let checkpoint, let checkpointed):
            let last =
                checkpointed
                ? "checkpoint \(checkpoint ?? "?") of step \(step) written"
                : "step \(step) read zeros in their place, so it is not checkpointed"
                    + (checkpoint.map { "; the last checkpoint is \($0)" } ?? "; there is no checkpoint yet")
            return "\(files.joined(separator: ", ")) shrank under training (truncated or rewritten by another program) and "
                + "could not be read \(during); \(last). Restore the file(s) and continue with --resume latest."
        case .reportWriteFailed(let failure, let checkpoint, let saveFailure):
            return "\(failure) Training stopped"
                + (saveFailure.map { "; the stop checkpoint could not be written either (\($0))" } ?? "")
                + (checkpoint.map {
                    "; checkpoint \($0) \(saveFailure == nil ? "written" : "is the last one"), continue with --resume latest once there is room"
                } ?? "")
                + "."
        case .nonFiniteState(let step, let buffer, let index):
            return "step \(step): the \(buffer) hold a non-finite value (element \(index)), so no checkpoint was written; "
                + "lower --learning-rate (or kl_weight, or raise gaussian_variance) and resume from the last checkpoint."
        case .runFolderHoldsARun(let directory, let files):
            return "\(directory) holds another run (\(files.prefix(3).joined(separator: ", "))\(files.count > 3 ? ", …" : "")); "
                + "continue it with --resume latest, or give a new --run-dir (or leave --run-dir out: each run gets runs/NAME/version_N)."
        case .earlyStoppingWithoutValidation:
            return "early stopping (training.early_stop_patience) watches the validation loss, and there is no validation set; "
                + "add --validation-fraction F or a validation file."
        case .emptySplit(let split, let source):
            return "the \(split) set of \(source) has no samples; give it at least one (or leave the set out)."
        case .nonFiniteLoss(let step, let term):
            return
                "step \(step): the \(term) is not finite; lower --learning-rate or check the data. No checkpoint was written for this step."
        }
    }
}
