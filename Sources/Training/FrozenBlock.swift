import Transformer

/// The frozen weights of one decoder block in the training precision: `BlockWeights` converted
/// (for Float the arrays are shared, not copied). Shapes as in ``ModelConfiguration``.
public struct FrozenBlock<Scalar: TrainingScalar>: Sendable {
    public let attentionNorm: [Scalar]                  // [D]
    public let query: TrainingMatrix<Scalar>            // [H·d, D]
    public let key: TrainingMatrix<Scalar>              // [K·d, D]
    public let value: TrainingMatrix<Scalar>            // [K·d, D]
    public let attentionOutput: TrainingMatrix<Scalar>  // [D, H·d]
    public let queryBias: [Scalar]?                     // [H·d]
    public let keyBias: [Scalar]?                       // [K·d]
    public let valueBias: [Scalar]?                     // [K·d]
    public let feedForwardNorm: [Scalar]                // [D]
    public let gate: TrainingMatrix<Scalar>             // [F, D]
    public let up: TrainingMatrix<Scalar>               // [F, D]
    public let down: TrainingMatrix<Scalar>             // [D, F]

    public init(_ w: BlockWeights) {
        attentionNorm = Scalar.converting(w.attentionNorm)
        query = TrainingMatrix(w.query)
        key = TrainingMatrix(w.key)
        value = TrainingMatrix(w.value)
        attentionOutput = TrainingMatrix(w.attentionOutput)
        queryBias = w.queryBias.map(Scalar.converting)
        keyBias = w.keyBias.map(Scalar.converting)
        valueBias = w.valueBias.map(Scalar.converting)
        feedForwardNorm = Scalar.converting(w.feedForwardNorm)
        gate = TrainingMatrix(w.gate)
        up = TrainingMatrix(w.up)
        down = TrainingMatrix(w.down)
    }

    /// Linear `role` with its bias and, when `parameters` has one, its adapter.
    func linear(_ role: TensorRole, block: Int, parameters: TrainableParameters<Scalar>?) -> LoRALinear<Scalar> {
        let (weight, bias): (TrainingMatrix<Scalar>, [Scalar]?)
        switch role {
        case .query: (weight, bias) = (query, queryBias)
        case .key: (weight, bias) = (key, keyBias)
        case .value: (weight, bias) = (value, valueBias)
        case .attentionOutput: (weight, bias) = (attentionOutput, nil)
        case .gate: (weight, bias) = (gate, nil)
        case .up: (weight, bias) = (up, nil)
        case .down: (weight, bias) = (down, nil)
        default: preconditionFailure("\(role) is not a linear layer")
        }
        return LoRALinear(weight: weight, bias: bias, adapter: parameters?.adapter(block: block, role: role))
    }
}
