import Kernels
import TensorCore

/// One pre-norm decoder block (LLaMA / Qwen2):
///
///     h = x + o( attention( rope(q(norm₁ x)), rope(k(norm₁ x)), v(norm₁ x) ) )
///     y = h + down( silu(gate(norm₂ h)) ⊙ up(norm₂ h) )
///
/// with RMSNorm `norm`, linear layers `y = x·Wᵀ (+ b)`, and causal grouped-query attention.
public struct DecoderLayer: Sendable {
    /// The block's weights (q/k rows in `convention` order).
    public var weights: BlockWeights
    public let configuration: ModelConfiguration
    public let rotary: RotaryEmbedding
    public let convention: RotaryConvention

    public init(weights: BlockWeights, configuration: ModelConfiguration, rotary: RotaryEmbedding,
                convention: RotaryConvention) {
        self.weights = weights
        self.configuration = configuration
        self.rotary = rotary
        self.convention = convention
    }

    /// Runs the block in place on one sequence. `hidden`: `[T, D]`, at positions `P..<P+T` where
    /// `P` is the number of positions in `prefix` (0 without one): those positions' keys and
    /// values come from `prefix` instead of being recomputed, which gives the same result as
    /// running the prefix's tokens and these together. `keep`, when given, receives the keys and
    /// values of all `P + T` positions, to be the prefix of later calls.
    public func forward(_ hidden: UnsafeMutablePointer<Float>, tokens t: Int, workspace ws: BlockWorkspace,
                        prefix: KeyValuePrefix? = nil, keep: KeyValuePrefix? = nil,
                        observer: (any LinearInputObserver)? = nil) {
        let c = configuration, w = weights
        let dModel = c.hiddenSize, f = c.intermediateSize
        let q = c.headCount * c.headDimension, kv = c.keyValueHeadCount * c.headDimension
        let past = prefix?.tokens ?? 0
        precondition(t > 0 && past + t <= ws.capacity,
                     "block forward: \(past) prefix + \(t) tokens, workspace holds \(ws.capacity)")
        if let prefix, past > 0 {
            ws.key.update(from: prefix.keys, count: past * kv)
            ws.value.update(from: prefix.values, count: past * kv)
        }
        let newKeys = ws.key + past * kv, newValues = ws.value + past * kv

        let p = ws.profile
        // Attention half.
        p.measure(.norm) {
            RMSNormKernel.apply(input: hidden, rows: t, columns: dModel, weight: w.attentionNorm,
                                epsilon: c.rmsNormEpsilon, output: ws.normed)
        }
        p.measure(.observers) { observer?.observe(ws.normed, tokens: t, inputSize: dModel, roles: [.query, .key, .value]) }
        p.measure(.qkvProjection) {
            Self.linear(ws.normed, t, dModel, w.query, w.queryBias, ws.query)
            Self.linear(ws.normed, t, dModel, w.key, w.keyBias, newKeys)
            Self.linear(ws.normed, t, dModel, w.value, w.valueBias, newValues)
        }
        p.measure(.rope) {
            rotary.apply(to: ws.query, tokens: t, headCount: c.headCount, startPosition: past, convention: convention)
            rotary.apply(to: newKeys, tokens: t, headCount: c.keyValueHeadCount, startPosition: past, convention: convention)
        }
        keep?.store(keys: ws.key, values: ws.value, count: past + t)
        p.measure(.attentionScores) {
            Attention.apply(query: ws.query, key: ws.key, value: ws.value, context: ws.context, tokens: t, prefix: past,
                            configuration: c, workspace: ws)
        }
        p.measure(.observers) { observer?.observe(ws.context, tokens: t, inputSize: q, roles: [.attentionOutput]) }
        p.measure(.outputProjection) { Self.linear(ws.context, t, q, w.attentionOutput, nil, hidden, accumulate: true) }

        // MLP half.
        p.measure(.norm) {
            RMSNormKernel.apply(input: hidden, rows: t, columns: dModel, weight: w.feedForwardNorm,
                                epsilon: c.rmsNormEpsilon, output: ws.normed)
        }
        p.measure(.observers) { observer?.observe(ws.normed, tokens: t, inputSize: dModel, roles: [.gate, .up]) }
        p.measure(.gateUp) {
            Self.linear(ws.normed, t, dModel, w.gate, nil, ws.gate)
            Self.linear(ws.normed, t, dModel, w.up, nil, ws.up)
        }
        p.measure(.swiGLU) { ActivationKernel.swiGLU(gate: ws.gate, up: ws.up, output: ws.gate, count: t * f) }
        p.measure(.observers) { observer?.observe(ws.gate, tokens: t, inputSize: f, roles: [.down]) }
        p.measure(.downProjection) { Self.linear(ws.gate, t, f, w.down, nil, hidden, accumulate: true) }
    }

    /// Runs the block in place on `hidden` (`[T, D]`).
    public func forward(_ hidden: inout Matrix, workspace: BlockWorkspace, observer: (any LinearInputObserver)? = nil) {
        precondition(hidden.columns == configuration.hiddenSize, "block forward: rows of \(hidden.columns), expected D")
        let t = hidden.rows
        hidden.storage.withUnsafeMutableBufferPointer { forward($0.baseAddress!, tokens: t, workspace: workspace, observer: observer) }
    }

    /// `y = x·Wᵀ (+ b)` or `y += x·Wᵀ`. x `[T, in]`, W `[out, in]`, y `[T, out]`.
    private static func linear(_ x: UnsafePointer<Float>, _ t: Int, _ inputSize: Int, _ weight: Matrix, _ bias: [Float]?,
                               _ y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        precondition(weight.columns == inputSize, "linear: weight has \(weight.columns) inputs, activation \(inputSize)")
        weight.storage.withUnsafeBufferPointer { wb in
            if let bias {
                bias.withUnsafeBufferPointer { bb in
                    GEMM.linear(input: x, tokens: t, inputSize: inputSize, weight: wb.baseAddress!, outputSize: weight.rows,
                                bias: bb.baseAddress!, output: y, accumulate: accumulate)
                }
            } else {
                GEMM.linear(input: x, tokens: t, inputSize: inputSize, weight: wb.baseAddress!, outputSize: weight.rows,
                            output: y, accumulate: accumulate)
            }
        }
    }
}
