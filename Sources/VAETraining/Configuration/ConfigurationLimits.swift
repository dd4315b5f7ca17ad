import Foundation
import VAESettings
import VAEDistributed
import VAEModel

/// What a configuration asks of memory, checked before anything is allocated: a hidden size, latent size or batch
/// that cannot fit is one error naming the key and the bytes, not an allocation failure deep in the model.
extension TrainingConfiguration {
    /// Hidden layers per network: far more than any VAE uses, few enough that describing the model is instant.
    public static let maximumLayers = ConfigValue.maximumLayers

    /// Bytes the model needs, about: parameters, gradients and two Adam moments (4 floats per parameter, and one
    /// more for the exchanges' copies), and per row the activations and their gradients (6 floats per unit of every
    /// layer), a row per sample times the objective's K plus the prior's rows. Nil when the count overflows.
    public var estimatedMemory: (bytes: Int, parameters: Int, activations: Int)? {
        let a = architecture
        guard case (let sampleRows, false) = batchSize.multipliedReportingOverflow(by: objective.samplesPerInput),
            case (let batchSize, false) = sampleRows.addingReportingOverflow(a.prior.kind.encoderRows)
        else { return nil }
        guard a.isShorthand else {
            // Layer lists: the layout's parameters, and per row every layer's output and the heads (checked shapes;
            // an unchecked one counts nothing here and is refused by checkLayers()).
            guard case .success(let layout) = ParameterLayout.checked(a) else { return (0, 0, 0) }
            let units =
                (layout.encoder + layout.decoder).reduce(a.inputSize * (1 + a.likelihood.outputBuffersPerPixel)) {
                    $0 + $1.outputSize
                } + 4 * a.latentSize
            let perRow = units.multipliedReportingOverflow(by: 3 * 4),
                activations = perRow.partialValue.multipliedReportingOverflow(by: batchSize)
            let state = layout.count.multipliedReportingOverflow(by: 5 * 4)
            guard !perRow.overflow, !activations.overflow, !state.overflow else { return nil }
            let bytes = state.partialValue.addingReportingOverflow(activations.partialValue)
            return bytes.overflow ? nil : (bytes.partialValue, state.partialValue, activations.partialValue)
        }
        let outputs = a.likelihood.outputBuffersPerPixel
        let widths = [a.inputSize] + a.encoderHidden + [a.latentSize]
        let decoder = [a.latentSize] + a.decoderHidden + [a.inputSize * outputs]
        var parameters = 0, units = 0
        for tensor in a.prior.kind.tensorShapes(inputShape: a.inputShape) {
            var count = 1
            for size in tensor.shape {
                guard case (let product, false) = count.multipliedReportingOverflow(by: size) else { return nil }
                count = product
            }
            guard case (let total, false) = parameters.addingReportingOverflow(count) else { return nil }
            parameters = total
        }
        for chain in [widths, decoder] {
            for (from, to) in zip(chain, chain.dropFirst()) {
                let heads = chain == widths && to == a.latentSize ? 2 : 1  // μ and log σ²
                guard case (let weights, false) = from.multipliedReportingOverflow(by: to),
                    case (let layer, false) = (weights + to).multipliedReportingOverflow(by: heads),
                    case (let total, false) = parameters.addingReportingOverflow(layer)
                else { return nil }
                parameters = total
            }
            for width in chain {
                guard case (let total, false) = units.addingReportingOverflow(width) else { return nil }
                units = total
            }
        }
        guard case (let perRow, false) = units.multipliedReportingOverflow(by: 6 * 4),
            case (let activations, false) = perRow.multipliedReportingOverflow(by: batchSize),
            case (let state, false) = parameters.multipliedReportingOverflow(by: 5 * 4),
            case (let bytes, false) = state.addingReportingOverflow(activations)
        else { return nil }
        return (bytes, state, activations)
    }

    /// A layer model's layers against its input shape: an error names the list, the layer's index, its input shape
    /// and what it needs (nothing is allocated); then the memory check.
    public func checkLayers() throws {
        guard !architecture.isShorthand else { return }
        if (architecture.encoderLayers == nil) != (architecture.decoderLayers == nil) {
            throw ConfigurationError(
                key: architecture.encoderLayers == nil ? "model.encoder" : "model.decoder",
                problem: "give model.encoder and model.decoder together (layer lists), or neither (the MLP shorthand)")
        }
        if case .failure(let error) = ParameterLayout.checked(architecture) {
            throw ConfigurationError(key: "model.\(error.list)", problem: "\(error)")
        }
        try checkFitsMemory()
    }

    /// Throws when the model cannot fit in this machine's memory, naming the key that asks for the most.
    /// With `run.threads` above 1 each thread holds a replica's parameters, gradients and Adam moments.
    public func checkFitsMemory(physicalMemory: Int = MachineMemory.bytes) throws {
        let gigabytes = MachineMemory.gigabytes
        if threads > 1, let estimate = estimatedMemory {
            let replicas = estimate.parameters.multipliedReportingOverflow(by: threads)
            let total = replicas.partialValue.addingReportingOverflow(estimate.activations)
            guard !replicas.overflow, !total.overflow, total.partialValue <= physicalMemory else {
                throw ConfigurationError(
                    key: "run.threads",
                    problem:
                        "\(threads) threads each hold the model's parameters and optimizer (\(gigabytes(estimate.parameters)) each): "
                        + "more than this machine's \(gigabytes(physicalMemory)) of memory; use fewer threads")
            }
        }
        guard let estimate = estimatedMemory else {
            throw ConfigurationError(
                key: largestKey(parameterSide: true),
                problem: "the model's size overflows a 64-bit count; use sizes a machine can hold")
        }
        guard estimate.bytes <= physicalMemory else {
            let parameterSide = estimate.parameters >= estimate.activations
            throw ConfigurationError(
                key: largestKey(parameterSide: parameterSide),
                problem:
                    "the model needs about \(gigabytes(estimate.bytes)) (parameters and optimizer \(gigabytes(estimate.parameters)), "
                    + "activations for a batch of \(batchSize) \(gigabytes(estimate.activations))), more than this machine's "
                    + "\(gigabytes(physicalMemory)) of memory; \(Self.advice(for: largestKey(parameterSide: parameterSide)))"
            )
        }
    }

    /// What to do about the key most responsible for the size.
    private static func advice(for key: String) -> String {
        switch key {
        case "training.batch_size": return "use smaller batches"
        case "training.samples": return "use fewer IWAE samples"
        case "model.pseudo_inputs": return "use fewer pseudo-inputs"
        default: return "use smaller layers"
        }
    }

    /// The key most responsible for the size: of the activations, the batch, the IWAE's K or the VampPrior's rows; of
    /// the parameters, the prior's pseudo-inputs or the widest layer.
    private func largestKey(parameterSide: Bool) -> String {
        let a = architecture
        let samples = objective.samplesPerInput, priorRows = a.prior.kind.encoderRows
        guard parameterSide else {
            let sampleRows = batchSize.multipliedReportingOverflow(by: samples)
            if !sampleRows.overflow && priorRows > sampleRows.partialValue { return "model.pseudo_inputs" }
            return samples > batchSize ? "training.samples" : "training.batch_size"
        }
        if priorRows > 0 && priorRows >= a.inputSize { return "model.pseudo_inputs" }
        guard a.isShorthand else { return "model.encoder" }
        let candidates = [
            ("model.encoder_hidden", a.encoderHidden.max() ?? 0), ("model.decoder_hidden", a.decoderHidden.max() ?? 0),
            ("model.latent_size", a.latentSize), ("model.input_size", a.inputSize),
        ]
        return candidates.max { $0.1 < $1.1 }!.0
    }
}

extension TrainingConfiguration {
    /// Checks the settings that depend on each other.
    public mutating func validate() throws {
        gradientExchange = try ExchangeStrategy.resolve(requested: gradientExchange, legacy: legacyExchange)
        if !architecture.likelihood.acceptsBinarizedTargets, binarization != .none {
            throw ConfigurationError(
                key: "data.binarization",
                problem:
                    "a \(architecture.likelihood.name) likelihood needs grey levels (\"none\"), got \"\(binarization.rawValue)\"")
        }
        for (key, used) in [
            ("training.cross_node_compression", crossNodeCompression != .none), ("training.cross_node_overlap", crossNodeOverlap),
        ]
        where used && !gradientExchange.mayCrossNodes {
            throw ConfigurationError(
                key: key,
                problem:
                    "changes the node-shared exchange's hop between hosts; use it with training.gradient_exchange \"node-shared\" or \"auto\", not \"\(gradientExchange.rawValue)\""
            )
        }
        if let maxSteps, maxSteps < 1 { throw ConfigurationError(key: "training.max_steps", problem: "must be ≥ 1") }
        try LearningRateSchedule.check(name: lrSchedule, settings: settings)
        // A layer model's shapes, once its input shape is known (else after the data gives it: adapt(to:)). The
        // flags alone are validated on the defaults first (one list given there is not yet an error).
        if !architecture.isShorthand && givenKeys.contains("model.input_shape") { try checkLayers() }
        try checkThreadCap()
        try checkFitsMemory()
        if standardize && architecture.likelihood.acceptsBinarizedTargets {
            throw ConfigurationError(
                key: "data.standardize",
                problem:
                    "standardized data is not in [0, 1], which a \(architecture.likelihood.name) likelihood needs; use model.likelihood \"gaussian\""
            )
        }
    }
}

/// This machine's memory: what every estimate made before an allocation is checked against (a model, threads'
/// replicas, `sample --count`, an inflated `.gz` data file).
public enum MachineMemory {
    /// The machine's physical memory in bytes.
    public static var bytes: Int { Int(clamping: ProcessInfo.processInfo.physicalMemory) }

    /// `bytes` as a person reads it ("25.3 GB").
    public static func gigabytes(_ bytes: Int) -> String { String(format: "%.1f GB", Double(bytes) / 1e9) }
}
