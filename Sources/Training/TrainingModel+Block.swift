import Transformer

/// What one block's forward pass keeps for its backward pass. T tokens, D hidden, F intermediate.
public struct BlockActivations<Scalar: TrainingScalar>: Sendable {
    let input: TrainingMatrix<Scalar>            // x [T, D]
    let normed: TrainingMatrix<Scalar>           // n₁ = norm₁ x [T, D]
    let inverseRMS: [Scalar]                     // [T]
    let query: TrainingMatrix<Scalar>            // rope(q) [T, H·d]
    let key: TrainingMatrix<Scalar>              // rope(k) [T, K·d]
    let value: TrainingMatrix<Scalar>            // v [T, K·d]
    let probabilities: [Scalar]                  // [H, T, T]
    let context: TrainingMatrix<Scalar>          // [T, H·d]
    let attentionResidual: TrainingMatrix<Scalar> // h = x + o(context) [T, D]
    let feedForwardNormed: TrainingMatrix<Scalar> // n₂ = norm₂ h [T, D]
    let feedForwardInverseRMS: [Scalar]          // [T]
    let gate: TrainingMatrix<Scalar>             // [T, F]
    let up: TrainingMatrix<Scalar>               // [T, F]
    let activated: TrainingMatrix<Scalar>        // silu(gate) ⊙ up [T, F]
    let caches: [TensorRole: LoRALinear<Scalar>.Cache]
}

extension TrainingModel {
    /// Block `i` on `x` `[T, D]` (positions `0..<T`): the output `y` `[T, D]` and the activations
    /// its backward pass needs.
    ///
    ///     h = x + o(attention(rope(q(n₁)), rope(k(n₁)), v(n₁))),  n₁ = norm₁ x
    ///     y = h + down(silu(gate(n₂)) ⊙ up(n₂)),                  n₂ = norm₂ h
    ///
    /// Each linear carries its adapter from `parameters` and, with `dropout`, its dropout mask.
    public func blockForward(_ i: Int, input x: TrainingMatrix<Scalar>, parameters: TrainableParameters<Scalar>?,
                             dropout: LoRADropout?) -> (output: TrainingMatrix<Scalar>, activations: BlockActivations<Scalar>) {
        let c = configuration, w = blocks[i]
        var caches = [TensorRole: LoRALinear<Scalar>.Cache]()
        func linear(_ role: TensorRole, _ input: TrainingMatrix<Scalar>) -> TrainingMatrix<Scalar> {
            let layer = w.linear(role, block: i, parameters: parameters)
            let mask: TrainingMatrix<Scalar>? = layer.adapter == nil ? nil
                : dropout.map { $0.scales(rows: input.rows, columns: input.columns, block: i, role: role) }
            let (output, cache) = layer.forward(input, dropout: mask)
            caches[role] = cache
            return output
        }
        // Attention half.
        let attentionGain = parameters?.gain(.attentionNormGain(block: i)) ?? w.attentionNorm
        let (normed, inverseRMS) = RMSNormLayer.forward(x, gain: attentionGain, epsilon: epsilon)
        var query = linear(.query, normed), key = linear(.key, normed)
        let value = linear(.value, normed)
        rotary.forward(&query)
        rotary.forward(&key)
        let (context, probabilities) = CausalAttentionLayer.forward(query: query, key: key, value: value, configuration: c)
        var h = linear(.attentionOutput, context)
        h.add(x)
        // MLP half.
        let feedForwardGain = parameters?.gain(.feedForwardNormGain(block: i)) ?? w.feedForwardNorm
        let (normed2, inverseRMS2) = RMSNormLayer.forward(h, gain: feedForwardGain, epsilon: epsilon)
        let gate = linear(.gate, normed2), up = linear(.up, normed2)
        let activated = SwiGLULayer.forward(gate: gate, up: up)
        var y = linear(.down, activated)
        y.add(h)
        let activations = BlockActivations(
            input: x, normed: normed, inverseRMS: inverseRMS, query: query, key: key, value: value,
            probabilities: probabilities, context: context, attentionResidual: h, feedForwardNormed: normed2,
            feedForwardInverseRMS: inverseRMS2, gate: gate, up: up, activated: activated, caches: caches)
        return (y, activations)
    }

    /// The backward pass of block `i`: `dx` `[T, D]` for `dy` `[T, D]`, adding the gradients of
    /// its adapters (and gains, when they train) to `gradients`.
    public func blockBackward(_ i: Int, outputGradient dy: TrainingMatrix<Scalar>, activations a: BlockActivations<Scalar>,
                              parameters: TrainableParameters<Scalar>?, gradients: inout TrainableParameters<Scalar>)
        -> TrainingMatrix<Scalar> {
        let c = configuration, w = blocks[i]
        func linearBackward(_ role: TensorRole, _ dOutput: TrainingMatrix<Scalar>, input: TrainingMatrix<Scalar>,
                            into dInput: inout TrainingMatrix<Scalar>) {
            let layer = w.linear(role, block: i, parameters: parameters)
            guard let cache = a.caches[role] else { preconditionFailure("block \(i): no forward cache for \(role)") }
            if let (da, db) = layer.backward(dOutput, input: input, cache: cache, inputGradient: &dInput) {
                gradients.add(da.storage, to: .loraA(block: i, role: role))
                gradients.add(db.storage, to: .loraB(block: i, role: role))
            }
        }
        let t = dy.rows, d = c.hiddenSize, f = c.intermediateSize
        // MLP half: y = h + down(m).
        var dActivated = TrainingMatrix<Scalar>(rows: t, columns: f)
        linearBackward(.down, dy, input: a.activated, into: &dActivated)
        let (dGate, dUp) = SwiGLULayer.backward(dActivated, gate: a.gate, up: a.up)
        var dNormed2 = TrainingMatrix<Scalar>(rows: t, columns: d)
        linearBackward(.gate, dGate, input: a.feedForwardNormed, into: &dNormed2)
        linearBackward(.up, dUp, input: a.feedForwardNormed, into: &dNormed2)
        let feedForwardGain = parameters?.gain(.feedForwardNormGain(block: i)) ?? w.feedForwardNorm
        let (dhNorm, dGain2) = RMSNormLayer.backward(dNormed2, input: a.attentionResidual, gain: feedForwardGain,
                                                     inverseRMS: a.feedForwardInverseRMS)
        var dh = dy
        dh.add(dhNorm)
        // Attention half: h = x + o(context).
        var dContext = TrainingMatrix<Scalar>(rows: t, columns: c.headCount * c.headDimension)
        linearBackward(.attentionOutput, dh, input: a.context, into: &dContext)
        var (dQuery, dKey, dValue) = CausalAttentionLayer.backward(dContext, query: a.query, key: a.key, value: a.value,
                                                                   probabilities: a.probabilities, configuration: c)
        rotary.backward(&dQuery)
        rotary.backward(&dKey)
        var dNormed = TrainingMatrix<Scalar>(rows: t, columns: d)
        linearBackward(.query, dQuery, input: a.normed, into: &dNormed)
        linearBackward(.key, dKey, input: a.normed, into: &dNormed)
        linearBackward(.value, dValue, input: a.normed, into: &dNormed)
        let attentionGain = parameters?.gain(.attentionNormGain(block: i)) ?? w.attentionNorm
        let (dxNorm, dGain1) = RMSNormLayer.backward(dNormed, input: a.input, gain: attentionGain, inverseRMS: a.inverseRMS)
        var dx = dh
        dx.add(dxNorm)
        if gradients.contains(.attentionNormGain(block: i)) {
            gradients.add(dGain1, to: .attentionNormGain(block: i))
            gradients.add(dGain2, to: .feedForwardNormGain(block: i))
        }
        return dx
    }
}
