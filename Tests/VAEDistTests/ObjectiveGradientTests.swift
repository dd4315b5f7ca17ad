import Testing
import VAEModel
import VAESettings

/// Finite differences against the hand-written backward for the IWAE bound and the VampPrior, over every tensor
/// (the pseudo-inputs included).
@Suite struct ObjectiveGradientTests {
    static func iwae(_ samples: Int) -> Objective {
        var values = SettingValues()
        values[ImportanceWeightedBound.samples] = samples
        return Objective(name: ImportanceWeightedBound.name, settings: values)!
    }

    static func vamp(_ components: Int) -> Prior {
        var values = SettingValues()
        values[VampPrior.pseudoInputs] = components
        return Prior(name: VampPrior.name, settings: values)!
    }

    static func shorthand(
        _ likelihood: Likelihood, prior: Prior = .standardNormal, activation: Activation = .tanh
    ) -> Architecture {
        var architecture = Architecture(
            inputSize: 6, encoderHidden: [5], latentSize: 3, decoderHidden: [4], activation: activation, likelihood: likelihood)
        architecture.prior = prior
        return architecture
    }

    static let cases: [(String, Architecture, Objective)] = [
        ("iwae K = 4, bernoulli", shorthand(.bernoulli), iwae(4)),
        ("iwae K = 3, gaussian learned", shorthand(.gaussian(.learned)), iwae(3)),
        ("iwae K = 2, discretized logistic", shorthand(Likelihood(name: DiscretizedLogisticLikelihood.name)!), iwae(2)),
        ("elbo, vamp (4 pseudo-inputs)", shorthand(.bernoulli, prior: vamp(4)), .elbo),
        ("iwae K = 3, vamp (2 pseudo-inputs)", shorthand(.gaussian(.learned), prior: vamp(2)), iwae(3)),
        (
            "elbo, vamp, layers: conv2d first (pseudo-inputs through a convolution)",
            {
                var a = Architecture(
                    inputShape: [1, 4, 4],
                    encoder: [.conv2d(out: 2, kernel: 3, stride: 1, padding: 1), .activation(.tanh), .flatten, .linear(out: 5)],
                    latentSize: 2, decoder: [.linear(out: 16)], likelihood: .bernoulli)
                a.prior = vamp(3)
                return a
            }(), .elbo
        ),
        (
            "iwae K = 2, vamp, no hidden layers (the heads read the pseudo-inputs)",
            {
                var a = Architecture(inputSize: 4, encoderHidden: [], latentSize: 2, decoderHidden: [], activation: .tanh)
                a.prior = vamp(2)
                return a
            }(), iwae(2)
        ),
    ]

    /// A model with a fixed batch of 3 inputs in [0, 1] (grey levels on the logistic's 1/255 grid) and fixed ε.
    static func model(_ architecture: Architecture, objective: Objective, klWeight: Float) -> VariationalAutoencoder {
        let layout = ParameterLayout(architecture)
        let model = VariationalAutoencoder(layout: layout, batchCapacity: 3, klWeight: klWeight, objective: objective)
        layout.initialize(model.parameters, seed: 7)
        var stream = RandomStream(seed: 3, purpose: .syntheticData)
        for i in 0..<(3 * architecture.inputSize) { model.input[i] = Float(stream.nextIndex(below: 256)) / 255 }
        stream.fillStandardNormal(model.epsilon, count: 3 * objective.samplesPerInput * architecture.latentSize)
        // Pseudo-inputs spread out, so the mixture's components differ.
        for view in layout.priorTensors {
            for i in 0..<view.count { model.parameters.pointer(to: view)[i] = stream.nextUnitFloat() }
        }
        return model
    }

    @Test(arguments: 0..<cases.count)
    func backwardMatchesFiniteDifferences(caseIndex: Int) {
        let (name, architecture, objective) = ObjectiveGradientTests.cases[caseIndex]
        let model = ObjectiveGradientTests.model(architecture, objective: objective, klWeight: 0.7)
        let (worst, checked) = finiteDifferenceErrors(model, batch: 3, h: 1e-2) { 2e-3 + 2e-2 * max(abs($0), abs($1)) }
        for (tensor, ratio) in worst { #expect(ratio <= 1, "\(name): \(tensor) gradient error \(ratio)× the tolerance") }
        #expect(checked == model.layout.count)
    }
}
