import Foundation
import Testing
import VAEModel

@Suite struct LayoutTests {
    @Test func defaultArchitectureHasPyTorchNamesAndShapes() {
        let layout = ParameterLayout(.pytorchExample)
        #expect(layout.count == 652_824)
        let shapes = Dictionary(uniqueKeysWithValues: layout.tensors.map { ($0.name, $0.shape) })
        #expect(
            shapes == [
                "fc1.weight": [400, 784], "fc1.bias": [400], "fc21.weight": [20, 400], "fc21.bias": [20],
                "fc22.weight": [20, 400], "fc22.bias": [20], "fc3.weight": [400, 20], "fc3.bias": [400],
                "fc4.weight": [784, 400], "fc4.bias": [784],
            ])
    }

    @Test func deeperArchitecturesFollowTheNumberingScheme() {
        let layout = ParameterLayout(
            Architecture(encoderHidden: [200, 200], latentSize: 50, decoderHidden: [200, 200], activation: .tanh))
        #expect(
            layout.tensors.map(\.name).filter { $0.hasSuffix(".weight") }
                == ["fc1.weight", "fc2.weight", "fc31.weight", "fc32.weight", "fc4.weight", "fc5.weight", "fc6.weight"])
    }

    @Test func initializationIsPyTorchsUniformBoundAndSeeded() {
        let layout = ParameterLayout(.pytorchExample)
        let a = FlatBuffer(count: layout.count), b = FlatBuffer(count: layout.count), c = FlatBuffer(count: layout.count)
        layout.initialize(a, seed: 1)
        layout.initialize(b, seed: 1)
        layout.initialize(c, seed: 2)
        #expect(a.bytes == b.bytes)
        #expect(a.bytes != c.bytes)
        for layer in layout.linearLayers {
            let bound = 1 / Float(layer.inputSize).squareRoot()
            let values = UnsafeBufferPointer(start: a.pointer(to: layer.weight), count: layer.weight.count)
            #expect(values.allSatisfy { abs($0) <= bound })
            #expect(values.max()! > 0.95 * bound && values.min()! < -0.95 * bound, "\(layer.weight.name) does not fill ±\(bound)")
        }
    }
}
