import TensorCore

/// The decoded weights of one decoder block, in `Float`. Linear weights are `[out, in]`
/// (see ``ModelConfiguration`` for the sizes); norms and biases are vectors.
public struct BlockWeights: Sendable {
    public var attentionNorm: [Float]      // [D]
    public var query: Matrix               // [H·d, D]
    public var key: Matrix                 // [K·d, D]
    public var value: Matrix               // [K·d, D]
    public var attentionOutput: Matrix     // [D, H·d]
    public var queryBias: [Float]?         // [H·d], Qwen2 only
    public var keyBias: [Float]?           // [K·d], Qwen2 only
    public var valueBias: [Float]?         // [K·d], Qwen2 only
    public var feedForwardNorm: [Float]    // [D]
    public var gate: Matrix                // [F, D]
    public var up: Matrix                  // [F, D]
    public var down: Matrix                // [D, F]

    public init(attentionNorm: [Float], query: Matrix, key: Matrix, value: Matrix, attentionOutput: Matrix,
                queryBias: [Float]? = nil, keyBias: [Float]? = nil, valueBias: [Float]? = nil,
                feedForwardNorm: [Float], gate: Matrix, up: Matrix, down: Matrix) {
        self.attentionNorm = attentionNorm
        self.query = query
        self.key = key
        self.value = value
        self.attentionOutput = attentionOutput
        self.queryBias = queryBias
        self.keyBias = keyBias
        self.valueBias = valueBias
        self.feedForwardNorm = feedForwardNorm
        self.gate = gate
        self.up = up
        self.down = down
    }

    /// One of the seven linear weights by role (``TensorRole/linears``).
    public subscript(linear role: TensorRole) -> Matrix {
        get {
            switch role {
            case .query: return query
            case .key: return key
            case .value: return value
            case .attentionOutput: return attentionOutput
            case .gate: return gate
            case .up: return up
            case .down: return down
            default: preconditionFailure("\(role) is not a linear layer")
            }
        }
        set {
            switch role {
            case .query: query = newValue
            case .key: key = newValue
            case .value: value = newValue
            case .attentionOutput: attentionOutput = newValue
            case .gate: gate = newValue
            case .up: up = newValue
            case .down: down = newValue
            default: preconditionFailure("\(role) is not a linear layer")
            }
        }
    }
}
