/// The walker's step for one layer: its op pair, called with what its ``LayerPlan/Operation`` carries (no lookup,
/// no unwrapping, no allocation).
extension VariationalAutoencoder {
    /// Runs one layer forward on the first `batch` rows.
    func forward(
        _ plan: LayerPlan, input x: UnsafeMutablePointer<Float>, output y: UnsafeMutablePointer<Float>,
        statistics: UnsafeMutablePointer<Float>, batch: Int
    ) {
        switch plan.operation {
        case .linear(let t):
            Linear.forward(
                input: x, weight: parameters.pointer(to: t.weight), bias: parameters.pointer(to: t.bias), output: y,
                batch: batch, inputSize: plan.inputSize, outputSize: plan.outputSize)
        case .conv2d(let t, let g, let out):
            Conv2d.forward(
                input: x, weight: parameters.pointer(to: t.weight), bias: parameters.pointer(to: t.bias), output: y,
                batch: batch, geometry: g, outputChannels: out, columns: columns)
        case .convTranspose2d(let t, let g, let inputs):
            ConvTranspose2d.forward(
                input: x, weight: parameters.pointer(to: t.weight), bias: parameters.pointer(to: t.bias), output: y,
                batch: batch, geometry: g, inputChannels: inputs, columns: columns)
        case .groupNorm(let t, let channels, let planeSize, let groups):
            GroupNorm.forward(
                input: x, scale: parameters.pointer(to: t.weight), shift: parameters.pointer(to: t.bias), output: y,
                statistics: statistics, batch: batch, channels: channels, planeSize: planeSize, groups: groups)
        case .activation(let function):
            function.forward(input: x, output: y, count: batch * plan.outputSize)
        case .reshape:
            break
        }
    }

    /// Runs one layer backward: `upstream` holds ∂/∂(its output) and, for an activation, becomes ∂/∂(its input) in
    /// place; a layer with parameters writes its parameter gradients into `target` and ∂/∂(its input) into
    /// `inputGradient` when given. Returns whether the gradient moved to `inputGradient`.
    func backward(
        _ plan: LayerPlan, input x: UnsafeMutablePointer<Float>, output y: UnsafeMutablePointer<Float>,
        statistics: UnsafeMutablePointer<Float>, upstream: UnsafeMutablePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?, target: FlatBuffer, batch: Int
    ) -> Bool {
        switch plan.operation {
        case .linear(let t):
            Linear.backward(
                input: x, weight: parameters.pointer(to: t.weight), outputGradient: upstream,
                weightGradient: target.pointer(to: t.weight), biasGradient: target.pointer(to: t.bias),
                inputGradient: inputGradient, batch: batch, inputSize: plan.inputSize, outputSize: plan.outputSize)
        case .conv2d(let t, let g, let out):
            Conv2d.backward(
                input: x, weight: parameters.pointer(to: t.weight), outputGradient: upstream,
                weightGradient: target.pointer(to: t.weight), biasGradient: target.pointer(to: t.bias),
                inputGradient: inputGradient, batch: batch, geometry: g, outputChannels: out, accumulate: false,
                columns: columns)
        case .convTranspose2d(let t, let g, let inputs):
            ConvTranspose2d.backward(
                input: x, weight: parameters.pointer(to: t.weight), outputGradient: upstream,
                weightGradient: target.pointer(to: t.weight), biasGradient: target.pointer(to: t.bias),
                inputGradient: inputGradient, batch: batch, geometry: g, inputChannels: inputs, accumulate: false,
                columns: columns)
        case .groupNorm(let t, let channels, let planeSize, let groups):
            GroupNorm.backward(
                input: x, scale: parameters.pointer(to: t.weight), statistics: statistics, outputGradient: upstream,
                scaleGradient: target.pointer(to: t.weight), shiftGradient: target.pointer(to: t.bias),
                inputGradient: inputGradient, batch: batch, channels: channels, planeSize: planeSize, groups: groups,
                accumulate: false)
        case .activation(let function):
            function.backward(input: x, output: y, gradient: upstream, count: batch * plan.outputSize)
            return false
        case .reshape:
            return false
        }
        return inputGradient != nil
    }
}
