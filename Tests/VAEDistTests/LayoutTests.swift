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

/// Layer lists: PyTorch's `nn.Sequential` names and weight shapes, shapes through the stack, and a list that does not
/// fit named by its list, index and shapes before anything is allocated.
@Suite struct LayerStackLayoutTests {
    static let mnistConv = Architecture(
        inputShape: [1, 28, 28],
        encoder: [
            .conv2d(out: 32, kernel: 4, stride: 2, padding: 1), .activation(.relu),
            .conv2d(out: 64, kernel: 4, stride: 2, padding: 1), .activation(.relu), .flatten, .linear(out: 256),
            .activation(.relu),
        ],
        latentSize: 20,
        decoder: [
            .linear(out: 3136), .activation(.relu), .unflatten([64, 7, 7]),
            .convTranspose2d(out: 32, kernel: 4, stride: 2, padding: 1, outputPadding: 0), .activation(.relu),
            .convTranspose2d(out: 1, kernel: 4, stride: 2, padding: 1, outputPadding: 0),
        ])

    @Test func namesAndShapesAreASequentialModules() {
        let layout = ParameterLayout(Self.mnistConv)
        let shapes = Dictionary(uniqueKeysWithValues: layout.tensors.map { ($0.name, $0.shape) })
        #expect(
            layout.tensors.map(\.name) == [
                "encoder.0.weight", "encoder.0.bias", "encoder.2.weight", "encoder.2.bias", "encoder.5.weight",
                "encoder.5.bias", "fc_mu.weight", "fc_mu.bias", "fc_logvar.weight", "fc_logvar.bias", "decoder.0.weight",
                "decoder.0.bias", "decoder.3.weight", "decoder.3.bias", "decoder.5.weight", "decoder.5.bias",
            ])
        #expect(shapes["encoder.0.weight"] == [32, 1, 4, 4] && shapes["encoder.2.weight"] == [64, 32, 4, 4])
        #expect(shapes["encoder.5.weight"] == [256, 3136] && shapes["fc_mu.weight"] == [20, 256])
        #expect(shapes["decoder.3.weight"] == [64, 32, 4, 4] && shapes["decoder.5.weight"] == [32, 1, 4, 4])
        #expect(layout.count == 945_897, "PyTorch's parameter count for the twin")
        #expect(layout.encoder.map(\.outputShape)[..<3] == [[32, 14, 14], [32, 14, 14], [64, 7, 7]])
        #expect(layout.decoder.last?.outputShape == [1, 28, 28])
        #expect(layout.decoderStart == layout.tensors.first { $0.name == "decoder.0.weight" }!.offset)
    }

    @Test func aListThatDoesNotFitIsNamed() {
        var a = Self.mnistConv
        a.decoderLayers![2] = .unflatten([32, 7, 7])
        guard case .failure(let error) = ParameterLayout.checked(a) else {
            Issue.record("a 3136-value output unflattened to [32, 7, 7] was accepted")
            return
        }
        #expect(error.list == "decoder" && error.index == 2 && error.input == [3136], "\(error)")
        a = Self.mnistConv
        a.inputShape = [1, 2, 2]
        guard case .failure(let small) = ParameterLayout.checked(a) else {
            Issue.record("a 2×2 input through two stride-2 convolutions was accepted")
            return
        }
        #expect(small.list == "encoder" && "\(small)".contains("encoder["), "\(small)")
        a = Self.mnistConv
        a.decoderLayers!.removeLast()
        guard case .failure(let end) = ParameterLayout.checked(a) else {
            Issue.record("a decoder ending in [32, 14, 14] was accepted for a [1, 28, 28] input")
            return
        }
        #expect(end.list == "decoder" && "\(end)".contains("[1, 28, 28]"), "\(end)")
    }

    /// PyTorch's default bounds: Conv2d 1/√(in·k²), ConvTranspose2d 1/√(out·k²) (its weight's dim 1).
    @Test func convolutionsInitializeWithPyTorchsFanIn() {
        let layout = ParameterLayout(Self.mnistConv)
        let parameters = FlatBuffer(count: layout.count)
        layout.initialize(parameters, seed: 1)
        for (name, fanIn) in [
            ("encoder.0.weight", 16), ("encoder.2.weight", 512), ("decoder.3.weight", 512), ("decoder.5.weight", 16),
        ] {
            let view = layout.tensors.first { $0.name == name }!
            let values = (0..<view.count).map { parameters.pointer(to: view)[$0] }
            let bound = 1 / Float(fanIn).squareRoot()
            #expect(values.allSatisfy { abs($0) <= bound } && values.contains { abs($0) > 0.9 * bound }, "\(name)")
        }
    }
}
