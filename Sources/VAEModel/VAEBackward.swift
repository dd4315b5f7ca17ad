/// Backward, in two halves (an exchange may start summing the decoder's part while the encoder's runs).
extension VariationalAutoencoder {
    /// The gradient buffer's range that ``backwardDecoder(batch:gradients:)`` writes (decoder layers and a
    /// learned output variance sit after the encoder and heads in the layout).
    public var decoderGradientRange: Range<Int> { layout.decoderStart..<layout.count }

    /// Backward pass after ``forward(batch:training:gradients:)`` with `training: true` and the same `batch` and
    /// buffer: overwrites every entry of `gradients` (default ``gradients``) with ∂/∂θ of the batch's summed loss.
    /// The same as ``backwardDecoder(batch:gradients:)`` then ``backwardEncoder(batch:gradients:)``.
    public func backward(batch: Int, gradients target: FlatBuffer? = nil) {
        backwardDecoder(batch: batch, gradients: target)
        backwardEncoder(batch: batch, gradients: target)
    }

    /// The first half of ``backward(batch:gradients:)``: the decoder's layers, last first, and ∂/∂z. When it
    /// returns, ``decoderGradientRange`` of `gradients` is final (an exchange may start summing it).
    public func backwardDecoder(batch: Int, gradients target: FlatBuffer? = nil) {
        let gradientTarget = target ?? gradients
        // The likelihood's gradient w.r.t. the decoder output is already in activationGradient (written by forward).
        var upstream = activationGradient, spare = spareActivationGradient
        let rows = batch * samplesPerInput
        for index in stride(from: layout.decoder.count - 1, through: 0, by: -1) {
            // The first layer writes ∂/∂z where the reparameterization's backward reads it.
            let moved = backward(
                layout.decoder[index], input: decoderInputs[index], output: decoderOutputs[index],
                statistics: decoderStatistics[index], upstream: upstream,
                inputGradient: index == 0 ? latentGradient : spare, target: gradientTarget, batch: rows)
            if moved && index > 0 { swap(&upstream, &spare) }
            if !moved && index == 0 { latentGradient.update(from: upstream, count: rows * layout.architecture.latentSize) }
        }
    }

    /// The second half of ``backward(batch:gradients:)``: the latent, both heads and the encoder's layers (over the
    /// batch's rows and the prior's; the prior's tensors get their rows' input gradient). `betweenLayers` runs after
    /// the heads and after each encoder layer with parameters (an exchange lets its communication move along there).
    public func backwardEncoder(batch: Int, gradients target: FlatBuffer? = nil, betweenLayers: () -> Void = {}) {
        let gradientTarget = target ?? gradients
        let architecture = layout.architecture
        // Latent: the KL gradient (written by forward) plus the path through z.
        reparameterizationBackward(batch: batch)

        // Heads: both read the encoder's output; their input gradients add up. Below the encoder's first layer
        // with parameters no gradient is needed, unless the prior's rows are learned inputs.
        let rows = batch + priorRows
        let firstWithParameters = firstEncoderLayerWithParameters
        let needInputGradient = firstWithParameters != nil || priorRows > 0
        var upstream = activationGradient, spare = spareActivationGradient
        Linear.backward(
            input: features, weight: parameters.pointer(to: layout.mean.weight), outputGradient: meanGradient,
            weightGradient: gradientTarget.pointer(to: layout.mean.weight),
            biasGradient: gradientTarget.pointer(to: layout.mean.bias),
            inputGradient: needInputGradient ? upstream : nil, batch: rows,
            inputSize: layout.mean.inputSize, outputSize: layout.mean.outputSize)
        Linear.backward(
            input: features, weight: parameters.pointer(to: layout.logVariance.weight),
            outputGradient: logVarianceGradient,
            weightGradient: gradientTarget.pointer(to: layout.logVariance.weight),
            biasGradient: gradientTarget.pointer(to: layout.logVariance.bias),
            inputGradient: needInputGradient ? spare : nil, batch: rows,
            inputSize: layout.logVariance.inputSize, outputSize: layout.logVariance.outputSize)
        betweenLayers()
        guard needInputGradient else { return }
        let width = layout.mean.inputSize
        for i in 0..<(rows * width) { upstream[i] += spare[i] }

        // Encoder, last layer first, down to its first layer with parameters (to its input for the prior's rows).
        let lowest = priorRows > 0 ? 0 : (firstWithParameters ?? 0)
        for index in stride(from: layout.encoder.count - 1, through: lowest, by: -1) {
            let plan = layout.encoder[index]
            let last = index == firstWithParameters && priorRows == 0
            let moved = backward(
                plan, input: encoderInputs[index], output: encoderOutputs[index], statistics: encoderStatistics[index],
                upstream: upstream, inputGradient: last ? nil : spare, target: gradientTarget, batch: rows)
            if plan.layer.hasParameters { betweenLayers() }
            if moved { swap(&upstream, &spare) }
        }
        // ∂/∂input of the prior's rows: its tensors' gradient (the VampPrior's pseudo-inputs).
        var offset = batch * architecture.inputSize
        for index in 0..<layout.priorTensors.count {  // an index loop: no iterator box in debug builds
            let view = layout.priorTensors[index]
            gradientTarget.pointer(to: view).update(from: upstream + offset, count: view.count)
            offset += view.count
        }
    }
}
