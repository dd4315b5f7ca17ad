import Foundation
import VAEModel
import VAESettings

/// The `model` section's keys (see ``TrainingConfiguration/keys``): the MLP shorthand (`input_size`,
/// `encoder_hidden`, `decoder_hidden`, `activation`, in the trajectory only while it is the model) or the layer
/// lists (`input_shape`, `encoder`, `decoder`), the latent size, the likelihood and its own settings.
let modelKeys: [ConfigurationKey] =
    [
        .init(
            "model.input_size", help: "values per sample (default: the data's)",
            write: { $0.architecture.isShorthand ? "\($0.architecture.inputSize)" : nil }, trajectory: .always
        ) { config, v in
            // Kept when model.input_shape (read before or after it) already has as many values.
            let size = try v.integer(min: 1)
            if config.architecture.inputSize != size { config.architecture.inputSize = size }
        },
        .init(
            "model.input_shape", help: "with layer lists: one sample's shape, [C, H, W] or [D] (default: the data's)",
            write: { $0.architecture.isShorthand ? nil : jsonText($0.architecture.inputShape) }, trajectory: .always
        ) { config, v in
            let shape = try v.integers(min: 1)
            guard [1, 3].contains(shape.count) else { throw v.error("must be [C, H, W] or [D], got \(shape)") }
            guard shape.allSatisfy({ $0 <= Layer.largestSize }), shape.reduce(1.0, { $0 * Double($1) }) <= 0x1p40 else {
                throw v.error("\(shape) is too large (at most \(Layer.largestSize) a side and 2⁴⁰ values)")
            }
            config.architecture.inputShape = shape
        },
        .init(
            "model.encoder",
            help:
                "the encoder's layers, e.g. [{\"conv2d\": {\"out\": 32, \"kernel\": 4, \"stride\": 2, \"padding\": 1}}, \"relu\", \"flatten\"] (default: the MLP shorthand)",
            write: { $0.architecture.encoderLayers.map(layersJSON) }, trajectory: .always
        ) { $0.architecture.encoderLayers = try layers($1) },
        .init(
            "model.decoder", help: "the decoder's layers, ending in the input's shape (default: the MLP shorthand)",
            write: { $0.architecture.decoderLayers.map(layersJSON) }, trajectory: .always
        ) { $0.architecture.decoderLayers = try layers($1) },
        .init(
            "model.encoder_hidden", help: "the encoder's hidden widths", write: { jsonText($0.architecture.encoderHidden) },
            trajectory: .fields {
                $0.architecture.isShorthand ? [("encoder_hidden", jsonText($0.architecture.encoderHidden))] : []
            }
        ) { $0.architecture.encoderHidden = try $1.integers(min: 1) },
        .init(
            "model.latent_size", help: "the latent dimension", write: { "\($0.architecture.latentSize)" }, trajectory: .always
        ) { $0.architecture.latentSize = try $1.integer(min: 1) },
        .init(
            "model.decoder_hidden", help: "the decoder's hidden widths", write: { jsonText($0.architecture.decoderHidden) },
            trajectory: .fields {
                $0.architecture.isShorthand ? [("decoder_hidden", jsonText($0.architecture.decoderHidden))] : []
            }
        ) { $0.architecture.decoderHidden = try $1.integers(min: 1) },
        .init(
            "model.activation",
            help: "the hidden layers' activation: " + Activation.allCases.map(\.rawValue).joined(separator: ", "),
            write: { jsonText($0.architecture.activation.rawValue) },
            trajectory: .fields {
                $0.architecture.isShorthand ? [("activation", jsonText($0.architecture.activation.rawValue))] : []
            }
        ) { $0.architecture.activation = try $1.choice(Activation.self) },
        // The likelihood writes its own settings into the trajectory.
        .init(
            "model.likelihood", help: "p(x|z): " + Likelihood.names.joined(separator: ", "),
            flag: .init(
                "likelihood", .text, value: Likelihood.names.joined(separator: "|"),
                help:
                    "The likelihood p(x|z): bernoulli (values in [0, 1]) or gaussian (any real values) (default: \(d.architecture.likelihood.name))."
            ),
            write: { jsonText($0.architecture.likelihood.name) },
            trajectory: .fields { $0.architecture.likelihood.trajectoryFields }
        ) { $0.architecture.likelihood = Likelihood(name: try $1.string(oneOf: Likelihood.names), settings: $0.settings)! },
        // The prior writes its own settings into the trajectory (none for N(0, I)).
        .init(
            "model.prior", help: "p(z): " + Prior.names.joined(separator: ", "),
            flag: .init(
                "prior", .text, value: Prior.names.joined(separator: "|"),
                help:
                    "The prior p(z): standard_normal (N(0, I)) or vamp (a mixture over learned pseudo-inputs) (default: \(d.architecture.prior.name))."
            ),
            write: { jsonText($0.architecture.prior.name) },
            trajectory: .fields { $0.architecture.prior.trajectoryFields }
        ) { $0.architecture.prior = Prior(name: try $1.string(oneOf: Prior.names), settings: $0.settings)! },
    ] + Likelihood.settings.map(ConfigurationKey.init(likelihood:)) + Prior.settings.map(ConfigurationKey.init(prior:))

/// A layer list as canonical JSON.
private func layersJSON(_ layers: [Layer]) -> String { "[" + layers.map(\.json).joined(separator: ",") + "]" }

/// A layer list read entry by entry (errors name `model.encoder[i]`).
private func layers(_ v: ConfigValue) throws -> [Layer] {
    guard let items = v.value as? [Any], !items.isEmpty else { throw v.error("must be a non-empty list of layers") }
    guard items.count <= 4 * ConfigValue.maximumLayers else {
        throw v.error("has \(items.count) layers; at most \(4 * ConfigValue.maximumLayers)")
    }
    return try items.enumerated().map { try Layer(ConfigValue(key: "\(v.key)[\($0.offset)]", value: $0.element)) }
}
