import Foundation
import Testing
@testable import VAETraining

/// The resolved `config.json` and the checkpoint's trajectory JSON (whose hash old checkpoints are resumed by) stay
/// byte-identical for every existing setting, whatever the configuration code looks like inside: the shipped
/// configurations and variants that set every key, against texts recorded before the settings were declared once
/// (Fixtures/configuration-golden.json; `VAE_DIST_WRITE_GOLDEN=1` rewrites it, for a deliberate format change).
@Suite struct ConfigurationGoldenTests {
    static let fixturePath = "Tests/VAEDistTests/Fixtures/configuration-golden.json"

    /// (name, configuration file or nil for the defaults, flags on top).
    static let cases: [(String, String?, [String])] = [
        ("defaults", nil, []),
        ("pytorch-example", "Config/mnist-pytorch-example.json", []),
        ("iwae-setup", "Config/mnist-iwae-setup.json", []),
        ("synthetic-smoke", "Config/synthetic-smoke.json", []),
        ("vampprior", "Config/mnist-vampprior.json", []),
        (
            "iwae-vamp", nil,
            ["training.objective=\"iwae\"", "training.samples=3", "model.prior=\"vamp\"", "model.pseudo_inputs=7"]
        ),
        ("gaussian-learned", nil, ["model.likelihood=\"gaussian\"", "data.standardize=true", "data.validation_fraction=0.1"]),
        ("gaussian-fixed", nil, ["model.gaussian_variance=0.25", "model.likelihood=\"gaussian\"", "model.activation=\"tanh\""]),
        ("step-schedule", nil, ["training.lr_schedule=\"step\"", "training.lr_step_every=100", "training.lr_step_factor=0.5"]),
        (
            "cosine-decay", nil,
            [
                "training.lr_schedule=\"cosine\"", "training.lr_warmup_steps=10", "training.lr_decay_steps=500",
                "training.lr_min_factor=0.1",
            ]
        ),
        ("cosine-epochs", nil, ["training.lr_schedule=\"cosine\"", "training.epochs=7"]),
        ("kl-linear", nil, ["training.kl_schedule=\"linear\"", "training.kl_warmup_steps=50", "training.clip_grad_norm=5"]),
        ("kl-cyclical", nil, ["training.kl_schedule=\"cyclical\"", "training.kl_cycle_steps=40", "training.kl_cycle_ratio=0.5"]),
        ("exact", nil, ["training.gradient_exchange=\"exact\"", "training.micro_batches=8", "training.max_steps=100"]),
        ("bf16", nil, ["training.cross_node_compression=\"bf16\"", "training.cross_node_overlap=true", "run.threads=2"]),
        ("legacy", nil, ["training.reduction=\"exact\""]),
        (
            "everything-else", nil,
            [
                "model.input_size=100", "model.encoder_hidden=[64,32]", "model.latent_size=5", "model.decoder_hidden=[32]",
                "training.batch_size=64", "training.learning_rate=0.002", "training.beta1=0.8", "training.beta2=0.99",
                "training.adam_epsilon=1e-6", "training.kl_weight=0.5", "training.seed=7", "training.drop_last=true",
                "training.early_stop_patience=3", "data.source=\"synthetic\"", "data.binarization=\"dynamic\"",
                "run.run_dir=\"runs/x\"", "run.checkpoint_every=10", "run.keep_checkpoints=2", "run.log_every=5",
                "run.blas_threads=1", "run.collective_timeout=30", "run.divergence_check_every=4",
                "run.nll_importance_samples=50", "run.nll_images=10",
            ]
        ),
    ]

    static func texts() throws -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        for (name, file, flags) in cases {
            var configuration = try file.map(TrainingConfiguration.load(path:)) ?? TrainingConfiguration()
            try configuration.override(
                flags.map { flag in
                    let parts = flag.split(separator: "=", maxSplits: 1).map(String.init)
                    return (parts[0], try JSONSerialization.jsonObject(with: Data(parts[1].utf8), options: .fragmentsAllowed))
                })
            out[name] = ["config.json": configuration.resolvedJSON, "trajectory": configuration.trajectoryJSON]
        }
        return out
    }

    @Test func configJSONAndTrajectoryJSONStayByteIdentical() throws {
        let now = try Self.texts()
        if ProcessInfo.processInfo.environment["VAE_DIST_WRITE_GOLDEN"] == "1" {
            let data = try JSONSerialization.data(withJSONObject: now, options: [.sortedKeys, .prettyPrinted])
            try data.write(to: URL(fileURLWithPath: Self.fixturePath))
        }
        let recorded = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.fixturePath)))
                as? [String: [String: String]])
        #expect(Set(recorded.keys) == Set(now.keys))
        for (name, texts) in recorded.sorted(by: { $0.key < $1.key }) {
            for (kind, text) in texts.sorted(by: { $0.key < $1.key }) {
                #expect(now[name]?[kind] == text, "\(name) \(kind):\n\(now[name]?[kind] ?? "none")\nrecorded:\n\(text)")
            }
        }
    }
}
