import Foundation
import Testing
@testable import VAETraining
import VAEModel
import VAESettings

/// The objective and prior rooms: the IWAE at K = 1 is the ELBO bit for bit, the bound grows with K on a trained
/// model (Burda et al.'s Theorem 1), the VampPrior's log-density is its mixture and its Monte Carlo KL is unbiased.
@Suite struct ObjectiveTests {
    typealias Cases = ObjectiveGradientTests

    @Test func iwaeWithOneSampleIsTheELBOBitForBit() {
        for architecture in [Cases.shorthand(.bernoulli), Cases.shorthand(.gaussian(.learned), prior: Cases.vamp(3))] {
            let elbo = Cases.model(architecture, objective: .elbo, klWeight: 0.7)
            let iwae = Cases.model(architecture, objective: Cases.iwae(1), klWeight: 0.7)
            let a = elbo.forward(batch: 3, training: true)
            elbo.backward(batch: 3)
            let b = iwae.forward(batch: 3, training: true)
            iwae.backward(batch: 3)
            #expect(a == b)
            #expect(elbo.gradients.array == iwae.gradients.array)
        }
    }

    /// A KL schedule moves the gradients' β; the reported bound keeps the configured one (both objectives).
    @Test func theReportedBoundTakesTheConfiguredWeight() {
        for objective in [Objective.elbo, Cases.iwae(4)] {
            let scheduled = Cases.model(Cases.shorthand(.bernoulli), objective: objective, klWeight: 1)
            scheduled.klWeight = 0.25
            let configured = Cases.model(Cases.shorthand(.bernoulli), objective: objective, klWeight: 1)
            let a = scheduled.forward(batch: 3, training: true), b = configured.forward(batch: 3, training: true)
            expectClose(a.loss, b.loss, relative: 1e-12, absolute: 0)
            #expect(a.reconstruction == b.reconstruction && a.kl == b.kl)
            scheduled.backward(batch: 3)
            configured.backward(batch: 3)
            #expect(scheduled.gradients.array != configured.gradients.array, "the gradients follow the scheduled β")
        }
    }

    @Test func theBoundIsBelowTheELBOsParts() {
        // log (1/K) Σ w_k ≥ (1/K) Σ log w_k (Jensen): the reported −L_K never exceeds the ELBO's parts on the same samples.
        let model = Cases.model(Cases.shorthand(.bernoulli), objective: Cases.iwae(6), klWeight: 1)
        let terms = model.forward(batch: 3)
        #expect(terms.loss <= terms.reconstruction + terms.kl + 1e-9)
        #expect(terms.loss > 0 && terms.samples == 3)
    }

    /// The mixture's log-density against the formula written out, for a few z.
    @Test func vampLogDensityIsTheMixtureOfTheEncodersPosteriors() {
        let model = Cases.model(Cases.shorthand(.bernoulli, prior: Cases.vamp(4)), objective: .elbo, klWeight: 1)
        model.encode(batch: 3)
        let width = 3, components = 4
        var stream = RandomStream(seed: 11, purpose: .syntheticData)
        model.epsilon.update(repeating: 0, count: 3 * width)
        stream.fillStandardNormal(model.latent, count: 3 * width)
        let densities = UnsafeMutablePointer<Double>.allocate(capacity: 3)
        defer { densities.deallocate() }
        model.layout.architecture.prior.kind.logDensity(
            model, batch: 3, latent: model.latent, rows: 3, into: densities, weights: nil,
            latentGradient: model.priorLatentGradient)
        for r in 0..<3 {
            var mixture = 0.0
            for j in 0..<components {
                var density = 1.0
                for d in 0..<width {
                    let mu = Double(model.mean[(3 + j) * width + d]),
                        variance = exp(Double(model.logVariance[(3 + j) * width + d]))
                    let z = Double(model.latent[r * width + d])
                    density *= exp(-(z - mu) * (z - mu) / (2 * variance)) / (2 * Double.pi * variance).squareRoot()
                }
                mixture += density / Double(components)
            }
            // log 2π is a float constant in the model: ½·3·its rounding ≈ 5e-8.
            expectClose(densities[r], log(mixture), relative: 1e-7, absolute: 1e-6)
        }
    }

    /// One latent dimension: KL(q(z|x) ‖ p_vamp) by quadrature, against the mean of the single-sample estimates
    /// log q(z|x) − log p(z) over 40,000 ε (within four standard errors).
    @Test func vampMonteCarloKLIsUnbiased() {
        var architecture = Architecture(inputSize: 4, encoderHidden: [3], latentSize: 1, decoderHidden: [3], activation: .tanh)
        architecture.prior = Cases.vamp(3)
        let draws = 40_000
        let layout = ParameterLayout(architecture)
        let model = VariationalAutoencoder(layout: layout, batchCapacity: draws, objective: .elbo)
        layout.initialize(model.parameters, seed: 5)
        var stream = RandomStream(seed: 9, purpose: .syntheticData)
        for view in layout.priorTensors {
            for i in 0..<view.count { model.parameters.pointer(to: view)[i] = stream.nextUnitFloat() * 4 }
        }
        let x: [Float] = [0.9, 0.1, 0.8, 0.3]
        for r in 0..<draws { for j in 0..<4 { model.input[r * 4 + j] = x[j] } }
        stream.fillStandardNormal(model.epsilon, count: draws)
        let terms = model.forward(batch: draws)
        // The estimates, their mean and spread.
        var sum = 0.0, squares = 0.0
        for r in 0..<draws {
            sum += model.rowLogRatios[r]
            squares += model.rowLogRatios[r] * model.rowLogRatios[r]
        }
        let mean = sum / Double(draws), error = ((squares / Double(draws) - mean * mean) / Double(draws)).squareRoot()
        #expect(abs(terms.kl / Double(draws) - mean) < 1e-9)
        // Quadrature over q's ±12σ on 200,001 points.
        let mu = Double(model.mean[0]), sigma = exp(0.5 * Double(model.logVariance[0]))
        let components = (0..<3).map { (Double(model.mean[draws + $0]), exp(Double(model.logVariance[draws + $0]))) }
        func normal(_ z: Double, _ m: Double, _ v: Double) -> Double {
            exp(-(z - m) * (z - m) / (2 * v)) / (2 * .pi * v).squareRoot()
        }
        var kl = 0.0
        let points = 200_000, step = 24 * sigma / Double(points)
        for i in 0...points {
            let z = mu - 12 * sigma + Double(i) * step
            let q = normal(z, mu, sigma * sigma)
            let p = components.map { normal(z, $0.0, $0.1) }.reduce(0, +) / 3
            if q > 0 { kl += q * (log(q) - log(p)) * step }
        }
        #expect(abs(mean - kl) < 4 * error, "Monte Carlo \(mean) ± \(error), quadrature \(kl)")
        #expect(error > 0 && error < 0.05)
    }

    /// Burda et al.'s Theorem 1 on a trained model: the mean bound over the test set grows with K (1, 5, 50).
    @Test func theBoundGrowsWithKOnATrainedCheckpoint() throws {
        var configuration = Fixtures.smallConfiguration(runDirectory: Fixtures.temporaryFolder())
        configuration.epochs = 4
        let trainer = try Fixtures.trainer(configuration)
        _ = try trainer.run()
        let test = try #require(Fixtures.smallData.test)
        var bounds: [Double] = []
        for samples in [1, 5, 50] {
            let model = VariationalAutoencoder(
                layout: trainer.exchange.model.layout, batchCapacity: 50, objective: Cases.iwae(samples))
            model.parameters.pointer.update(from: trainer.exchange.model.parameters.pointer, count: model.parameters.count)
            let filler = BatchFiller(seed: 1, binarization: configuration.binarization)
            var total = LossTerms()
            var start = 0
            while start < test.count {
                let indices = (start..<min(start + 50, test.count)).map { Int32($0) }
                indices.withUnsafeBufferPointer {
                    filler.fill(
                        input: model.input, epsilon: model.epsilon, latentSize: model.layout.architecture.latentSize,
                        samples: samples, dataset: test, indices: $0, epoch: 0, evaluation: true)
                }
                total += model.forward(batch: indices.count)
                start += indices.count
            }
            bounds.append(-total.perSample.loss)
        }
        #expect(bounds[0] < bounds[1] && bounds[1] < bounds[2], "L_1, L_5, L_50 = \(bounds)")
    }
}

/// The VampPrior's other uses: sampling from the mixture, the importance-sampled log-likelihood under it, its
/// pseudo-inputs in checkpoints and a resume that continues exactly.
@Suite struct VampPriorUseTests {
    typealias Cases = ObjectiveGradientTests

    /// One latent dimension: the mean and variance of 20,000 draws against the mixture's (within five standard errors).
    @Test func samplesComeFromTheMixture() {
        var architecture = Architecture(inputSize: 4, encoderHidden: [3], latentSize: 1, decoderHidden: [3], activation: .tanh)
        architecture.prior = Cases.vamp(3)
        let layout = ParameterLayout(architecture)
        let model = VariationalAutoencoder(layout: layout, batchCapacity: 4)
        layout.initialize(model.parameters, seed: 5)
        var stream = RandomStream(seed: 9, purpose: .syntheticData)
        for view in layout.priorTensors {
            for i in 0..<view.count { model.parameters.pointer(to: view)[i] = stream.nextUnitFloat() * 4 }
        }
        let z = model.priorSamples(count: 20_000, seed: 3)
        model.encode(batch: 0)
        let components = (0..<3).map { (Double(model.mean[$0]), exp(Double(model.logVariance[$0]))) }
        let mean = components.map(\.0).reduce(0, +) / 3
        let variance = components.map { $0.1 + $0.0 * $0.0 }.reduce(0, +) / 3 - mean * mean
        let sampleMean = z.map(Double.init).reduce(0, +) / Double(z.count)
        let sampleVariance = z.map { (Double($0) - sampleMean) * (Double($0) - sampleMean) }.reduce(0, +) / Double(z.count - 1)
        #expect(abs(sampleMean - mean) < 5 * (variance / Double(z.count)).squareRoot(), "\(sampleMean) vs \(mean)")
        #expect(abs(sampleVariance - variance) < 0.05 * variance, "\(sampleVariance) vs \(variance)")
        #expect(model.priorSamples(count: 5, seed: 3) == Array(z.prefix(5)), "draw k is keyed by (seed, k)")
    }

    /// With one importance sample and the forward pass's ε, the estimate is that pass's −ELBO (log q − log p under the
    /// mixture, the same z).
    @Test func oneImportanceSampleIsTheMonteCarloELBO() {
        let model = Cases.model(Cases.shorthand(.bernoulli, prior: Cases.vamp(4)), objective: .elbo, klWeight: 1)
        let width = model.layout.architecture.inputSize, latent = model.layout.architecture.latentSize
        let x = Array(UnsafeBufferPointer(start: model.input, count: width))
        let noise = Array(UnsafeBufferPointer(start: model.epsilon, count: latent))
        let terms = model.forward(batch: 1)
        let estimate = x.withUnsafeBufferPointer { xb in
            model.importanceWeightedLogLikelihood(of: xb.baseAddress!, samples: 1) { _, destination in
                destination.update(from: noise, count: latent)
            }
        }
        expectClose(-estimate, terms.loss, relative: 1e-5, absolute: 1e-4)
    }

    /// `--init-from` weights trained without a VampPrior: every other tensor from the file, the pseudo-inputs keep
    /// their initialization; a file without another tensor is still refused.
    @Test func weightsWithoutPseudoInputsStartAVampPriorRun() throws {
        let plain = ParameterLayout(Cases.shorthand(.bernoulli))
        let trained = FlatBuffer(count: plain.count)
        plain.initialize(trained, seed: 3)
        let bytes = Safetensors.encode(
            tensors: plain.tensors.map {
                ($0.name, $0.shape, UnsafeBufferPointer(start: trained.pointer(to: $0), count: $0.count))
            },
            metadata: [:])
        let vamp = ParameterLayout(Cases.shorthand(.bernoulli, prior: Cases.vamp(2)))
        let parameters = FlatBuffer(count: vamp.count)
        vamp.initialize(parameters, seed: 1)
        let initialized = parameters.array
        try ModelWeights.read(bytes, path: "plain.safetensors", layout: vamp, into: parameters)
        for view in vamp.tensors {
            let values = Array(UnsafeBufferPointer(start: parameters.pointer(to: view), count: view.count))
            if let prior = vamp.priorTensors.first, view == prior {
                #expect(values == Array(initialized[view.offset..<(view.offset + view.count)]))
            } else {
                let source = try #require(plain.tensors.first { $0.name == view.name })
                #expect(
                    values == Array(UnsafeBufferPointer(start: trained.pointer(to: source), count: source.count)), "\(view.name)")
            }
        }
        let partial = Safetensors.encode(
            tensors: plain.tensors.dropFirst().map {
                ($0.name, $0.shape, UnsafeBufferPointer(start: trained.pointer(to: $0), count: $0.count))
            }, metadata: [:])
        #expect(throws: ModelWeightsError.self) {
            try ModelWeights.read(partial, path: "partial.safetensors", layout: vamp, into: parameters)
        }
    }

    @Test func pseudoInputsAreCheckpointedAndAResumeContinuesExactly() throws {
        let config = Fixtures.configFile(
            #"{"model": {"encoder_hidden": [16], "latent_size": 3, "decoder_hidden": [16], "prior": "vamp", "pseudo_inputs": 6}, "training": {"batch_size": 16, "objective": "iwae", "samples": 2}}"#,
            name: "vamp")
        let straight = Fixtures.temporaryFolder(), resumed = Fixtures.temporaryFolder()
        let common = ["train", "--config", config, "--data", "synthetic", "--threads", "1", "--blas-threads", "1", "-q"]
        var (status, _, err) = try CLITests.run(common + ["--run-dir", straight, "--max-steps", "6"])
        #expect(status == 0, "\(err)")
        (status, _, err) = try CLITests.run(common + ["--run-dir", resumed, "--max-steps", "3"])
        #expect(status == 0, "\(err)")
        (status, _, err) = try CLITests.run(common + ["--run-dir", resumed, "--max-steps", "6", "--resume", "latest"])
        #expect(status == 0, "\(err)")
        let path = { (folder: String) in folder + "/" + CheckpointStore.fileName(step: 6) }
        #expect(try Fixtures.stateHash(path(straight)) == Fixtures.stateHash(path(resumed)))
        let bytes = try #require(FileManager.default.contents(atPath: path(straight)))
        let entries = try Safetensors.decode([UInt8](bytes), path: path(straight)).entries
        #expect(entries["prior.pseudo_inputs"]?.shape == [6, 784])
    }
}

/// The memory check before anything is allocated names the key most responsible: the IWAE's K multiplies the decoder's
/// rows, the VampPrior adds encoder rows and a tensor.
@Suite struct ObjectiveMemoryTests {
    static let cases: [(key: String, values: [(key: String, value: Any?)])] = [
        ("training.samples", [("training.objective", "iwae"), ("training.samples", 100_000)]),
        ("model.pseudo_inputs", [("model.prior", "vamp"), ("model.pseudo_inputs", 1_000_000)]),
        ("training.batch_size", [("training.objective", "iwae"), ("training.samples", 2), ("training.batch_size", 10_000_000)]),
    ]

    @Test(arguments: 0..<cases.count)
    func anOversizedObjectiveOrPriorNamesItsKey(index: Int) throws {
        let (key, values) = Self.cases[index]
        // Each case needs far more than any machine of ours (the override checks against this one's memory, the
        // second call against 4 GiB).
        let error = try #require(throws: ConfigurationError.self) {
            var configuration = TrainingConfiguration()
            try configuration.override(values)
            try configuration.checkFitsMemory(physicalMemory: 1 << 32)
        }
        #expect(error.key == key, "\(error)")
        var fitting = TrainingConfiguration()
        try fitting.override([("training.objective", "iwae"), ("training.samples", 5), ("model.prior", "vamp")])
        try fitting.checkFitsMemory(physicalMemory: 1 << 32)
    }
}
