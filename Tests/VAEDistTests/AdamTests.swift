import Foundation
import Testing
import VAEModel

@Suite struct AdamTests {
    @Test func twoStepsMatchHandComputedValues() {
        let adam = Adam(parameterCount: 2, hyperparameters: .init(learningRate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8))
        let parameters = FlatBuffer(count: 2), gradients = FlatBuffer(count: 2)
        parameters.pointer[0] = 1; parameters.pointer[1] = -2
        gradients.pointer[0] = 0.5; gradients.pointer[1] = -0.1
        adam.update(parameters: parameters, gradients: gradients)
        // Step 1: m = 0.1 g, v = 0.001 g², m̂ = g, v̂ = g², so θ −= 0.1 · g / (|g| + 1e-8) = ±0.1.
        #expect(abs(parameters.pointer[0] - 0.9) < 1e-6)
        #expect(abs(parameters.pointer[1] - (-1.9)) < 1e-6)
        #expect(abs(adam.firstMoment.pointer[0] - 0.05) < 1e-7)
        #expect(abs(adam.secondMoment.pointer[0] - 0.00025) < 0.00025 * 1e-4)  // 1 − β₂ rounds in float
        // Step 2 with g = (0.2, 0.3):
        // m₀ = 0.9·0.05 + 0.1·0.2 = 0.065; v₀ = 0.999·0.00025 + 0.001·0.04 = 0.00028975
        // m̂₀ = 0.065/0.19 = 0.342105…; v̂₀ = 0.00028975/0.001999 = 0.144947…; θ₀ = 0.9 − 0.1·0.342105/0.380719 = 0.810142…
        // m₁ = 0.9·(−0.01) + 0.1·0.3 = 0.021; v₁ = 0.999·0.00001 + 0.001·0.09 = 0.00009999
        // m̂₁ = 0.110526…; v̂₁ = 0.0500200…; θ₁ = −1.9 − 0.1·0.110526/0.223652 = −1.949419…
        gradients.pointer[0] = 0.2; gradients.pointer[1] = 0.3
        adam.update(parameters: parameters, gradients: gradients)
        #expect(adam.step == 2)
        #expect(abs(parameters.pointer[0] - 0.810142) < 2e-6, "\(parameters.pointer[0])")
        #expect(abs(parameters.pointer[1] - (-1.949419)) < 2e-6, "\(parameters.pointer[1])")
    }
}
