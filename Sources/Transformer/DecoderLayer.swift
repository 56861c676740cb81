import Kernels
import Sparse
import Synchronization
import TensorCore

/// One pre-norm decoder block (LLaMA / Qwen2):
///
///     h = x + o( attention( rope(q(norm₁ x)), rope(k(norm₁ x)), v(norm₁ x) ) )
///     y = h + down( silu(gate(norm₂ h)) ⊙ up(norm₂ h) )
///
/// with RMSNorm `norm`, linear layers `y = x·Wᵀ (+ b)`, and causal grouped-query attention.
public struct DecoderLayer: Sendable {
    /// The block's weights (q/k rows in `convention` order).
    public var weights: BlockWeights {
        didSet { packed = PackedLinears() }
    }
    /// bf16 copies of the linears, packed the first time a bf16 workspace needs them, and their
    /// sparse forms, built the first time a workspace with ``BlockWorkspace/sparseLinears`` needs
    /// them (a copy of the layer shares them until its weights change).
    private var packed = PackedLinears()
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

    /// The largest share of non-zeros at which a linear runs sparse in a workspace with
    /// ``BlockWorkspace/sparseLinears``: where the sparse GEMM overtakes the dense one. Measured
    /// on a Zen 3 (AVX2, no AVX-512): the kernel alone 1.5–1.8× dense at 30% non-zeros on
    /// SmolLM2's shapes (random masks, 512–2048 tokens, 1–2 threads), 0.96–1.0× at 50%; the
    /// product with its transposes 1.2–1.35× at 30% (2048 tokens, 2 threads); in the whole forward
    /// pass of SmolLM2-135M Wanda + DLP 70% (`dlp bench forward --sparse-linears`, 2 × 2048
    /// tokens, 2 threads) gate/up 1.1×, down 1.05×, q/k/v/o 0.9–1.0×: about even, so it is off
    /// unless asked for. The kernel reaches about 40% of the FMA peak (one L1 load per FMA).
    public static let sparseDensityLimit = 0.45

    /// Runs the block in place on one sequence. `hidden`: `[T, D]`, positions `0..<T`.
    /// `outputNeeded: false` is a run only for `observer`: it stops once the down projection's
    /// input is observed (the down projection is skipped and `hidden` is left unfinished).
    public func forward(_ hidden: UnsafeMutablePointer<Float>, tokens t: Int, workspace ws: BlockWorkspace,
                        observer: (any LinearInputObserver)? = nil, outputNeeded: Bool = true) {
        forward(packed: hidden, segments: [PackedSegment(start: 0, count: t)], workspace: ws, observer: observer,
                outputNeeded: outputNeeded)
    }

    /// Runs the block in place on several sequence pieces packed row after row into `hidden`
    /// (`[R, D]`, `R` the segments' rows, which must follow each other from row 0). The linear
    /// layers, norms and MLP see all `R` rows at once (one GEMM per weight however short the
    /// pieces); RoPE and attention run per segment. A segment with ``PackedSegment/after`` set
    /// continues that earlier segment's sequence: its rows sit at positions `P..<P+T` (`P` the
    /// earlier segment's rows) and attend to the earlier segment's keys and values, which gives
    /// the same result as running the two as one sequence, while the earlier rows run once for
    /// every segment that continues them.
    public func forward(packed hidden: UnsafeMutablePointer<Float>, segments: [PackedSegment], workspace ws: BlockWorkspace,
                        observer: (any LinearInputObserver)? = nil, outputNeeded: Bool = true) {
        let c = configuration, w = weights
        let dModel = c.hiddenSize, f = c.intermediateSize
        let q = c.headCount * c.headDimension, kv = c.keyValueHeadCount * c.headDimension
        var t = 0
        for (index, segment) in segments.enumerated() {
            precondition(segment.start == t && segment.count > 0, "packed block forward: segment \(index) does not follow row \(t)")
            if let earlier = segment.after {
                precondition(earlier < index && segments[earlier].after == nil,
                             "packed block forward: segment \(index) continues \(earlier), which is not an earlier whole-sequence start")
                precondition(segments[earlier].count + segment.count <= ws.capacity,
                             "packed block forward: \(segments[earlier].count) + \(segment.count) positions, workspace holds \(ws.capacity)")
            }
            t += segment.count
        }
        precondition(t > 0 && t <= ws.capacity, "block forward: \(t) tokens, workspace holds \(ws.capacity)")

        let p = ws.profile
        // Attention half.
        p.measure(.norm) {
            RMSNormKernel.apply(input: hidden, rows: t, columns: dModel, weight: w.attentionNorm,
                                epsilon: c.rmsNormEpsilon, output: ws.normed)
        }
        p.measure(.observers) { observer?.observe(ws.normed, tokens: t, inputSize: dModel, roles: [.query, .key, .value]) }
        p.measure(.qkvProjection) {
            linear(.query, ws.normed, t, dModel, w.query, w.queryBias, ws.query, ws)
            linear(.key, ws.normed, t, dModel, w.key, w.keyBias, ws.key, ws)
            linear(.value, ws.normed, t, dModel, w.value, w.valueBias, ws.value, ws)
        }
        p.measure(.rope) {
            for segment in segments {
                let position = segment.after.map { segments[$0].count } ?? 0
                rotary.apply(to: ws.query + segment.start * q, tokens: segment.count, headCount: c.headCount,
                             startPosition: position, convention: convention)
                rotary.apply(to: ws.key + segment.start * kv, tokens: segment.count, headCount: c.keyValueHeadCount,
                             startPosition: position, convention: convention)
            }
        }
        p.measure(.attentionScores) {
            for segment in segments {
                let query = ws.query + segment.start * q, context = ws.context + segment.start * q
                if let earlier = segment.after.map({ segments[$0] }) {
                    // Keys and values of the earlier rows, then this segment's, contiguous.
                    ws.joinedKey.update(from: ws.key + earlier.start * kv, count: earlier.count * kv)
                    ws.joinedValue.update(from: ws.value + earlier.start * kv, count: earlier.count * kv)
                    (ws.joinedKey + earlier.count * kv).update(from: ws.key + segment.start * kv, count: segment.count * kv)
                    (ws.joinedValue + earlier.count * kv).update(from: ws.value + segment.start * kv, count: segment.count * kv)
                    Attention.apply(query: query, key: ws.joinedKey, value: ws.joinedValue, context: context,
                                    tokens: segment.count, prefix: earlier.count, configuration: c, workspace: ws)
                } else {
                    Attention.apply(query: query, key: ws.key + segment.start * kv, value: ws.value + segment.start * kv,
                                    context: context, tokens: segment.count, configuration: c, workspace: ws)
                }
            }
        }
        p.measure(.observers) { observer?.observe(ws.context, tokens: t, inputSize: q, roles: [.attentionOutput]) }
        p.measure(.outputProjection) { linear(.attentionOutput, ws.context, t, q, w.attentionOutput, nil, hidden, ws, accumulate: true) }

        // MLP half.
        p.measure(.norm) {
            RMSNormKernel.apply(input: hidden, rows: t, columns: dModel, weight: w.feedForwardNorm,
                                epsilon: c.rmsNormEpsilon, output: ws.normed)
        }
        p.measure(.observers) { observer?.observe(ws.normed, tokens: t, inputSize: dModel, roles: [.gate, .up]) }
        p.measure(.gateUp) {
            linear(.gate, ws.normed, t, dModel, w.gate, nil, ws.gate, ws)
            linear(.up, ws.normed, t, dModel, w.up, nil, ws.up, ws)
        }
        p.measure(.swiGLU) { ActivationKernel.swiGLU(gate: ws.gate, up: ws.up, output: ws.gate, count: t * f) }
        p.measure(.observers) { observer?.observe(ws.gate, tokens: t, inputSize: f, roles: [.down]) }
        guard outputNeeded else { return }
        p.measure(.downProjection) { linear(.down, ws.gate, t, f, w.down, nil, hidden, ws, accumulate: true) }
    }

    /// Runs the block in place on `hidden` (`[T, D]`).
    public func forward(_ hidden: inout Matrix, workspace: BlockWorkspace, observer: (any LinearInputObserver)? = nil) {
        precondition(hidden.columns == configuration.hiddenSize, "block forward: rows of \(hidden.columns), expected D")
        let t = hidden.rows
        hidden.storage.withUnsafeMutableBufferPointer { forward($0.baseAddress!, tokens: t, workspace: workspace, observer: observer) }
    }

    /// `y = x·Wᵀ (+ b)` or `y += x·Wᵀ`. x `[T, in]`, W `[out, in]`, y `[T, out]`; in bf16 when the
    /// workspace asks for it. Both precisions run on the workspace's threads in fixed tiles, so the
    /// result does not depend on the thread count.
    private func linear(_ role: TensorRole, _ x: UnsafePointer<Float>, _ t: Int, _ inputSize: Int, _ weight: Matrix,
                        _ bias: [Float]?, _ y: UnsafeMutablePointer<Float>, _ ws: BlockWorkspace, accumulate: Bool = false) {
        precondition(weight.columns == inputSize, "linear: weight has \(weight.columns) inputs, activation \(inputSize)")
        if ws.sparseLinears, ws.precision == .f32, let sparse = packed.sparse(role, weight) {
            if let bias {
                bias.withUnsafeBufferPointer {
                    sparse.multiplySparse(tokens: x, count: t, into: y, bias: $0.baseAddress!, accumulate: accumulate, threads: ws.threads)
                }
            } else {
                sparse.multiplySparse(tokens: x, count: t, into: y, accumulate: accumulate, threads: ws.threads)
            }
            return
        }
        if ws.precision == .bf16, let scratch = ws.bf16Activations {
            let packedWeight = packed.weight(role, weight)
            if let bias {
                bias.withUnsafeBufferPointer { bb in
                    GEMM.linearBF16(input: x, tokens: t, weight: packedWeight, bias: bb.baseAddress!, output: y,
                                    accumulate: accumulate, threads: ws.threads, scratch: scratch)
                }
            } else {
                GEMM.linearBF16(input: x, tokens: t, weight: packedWeight, output: y, accumulate: accumulate,
                                threads: ws.threads, scratch: scratch)
            }
            return
        }
        weight.storage.withUnsafeBufferPointer { wb in
            if let bias {
                bias.withUnsafeBufferPointer { bb in
                    GEMM.linear(input: x, tokens: t, inputSize: inputSize, weight: wb.baseAddress!, outputSize: weight.rows,
                                bias: bb.baseAddress!, output: y, accumulate: accumulate, threads: ws.threads)
                }
            } else {
                GEMM.linear(input: x, tokens: t, inputSize: inputSize, weight: wb.baseAddress!, outputSize: weight.rows,
                            output: y, accumulate: accumulate, threads: ws.threads)
            }
        }
    }
}

/// Rows `start ..< start + count` of a packed block call (``DecoderLayer/forward(packed:segments:workspace:observer:)``):
/// a whole sequence from position 0, or, with `after`, the continuation of the earlier segment
/// `after` (itself a sequence start), at positions following it.
public struct PackedSegment: Sendable, Equatable {
    public var start: Int
    public var count: Int
    public var after: Int?

    public init(start: Int, count: Int, after: Int? = nil) {
        self.start = start
        self.count = count
        self.after = after
    }
}

/// The bf16-packed linears of one layer, packed on first use (thread-safe).
final class PackedLinears: Sendable {
    private let cache = Mutex<[TensorRole: PackedBF16Weight]>([:])
    /// nil for a matrix denser than ``DecoderLayer/sparseDensityLimit`` (it stays dense).
    private let sparseCache = Mutex<[TensorRole: SparseMatrix?]>([:])

    /// The sparse form of `matrix` when its density is at most ``DecoderLayer/sparseDensityLimit``
    /// and this CPU runs the sparse GEMM; nil otherwise.
    func sparse(_ role: TensorRole, _ matrix: Matrix) -> SparseMatrix? {
        guard SparseKernel.avx2.supports(.f32) else { return nil }
        return sparseCache.withLock { cache in
            if let known = cache[role] { return known }
            let nonZeros = matrix.storage.reduce(0) { $1 != 0 ? $0 + 1 : $0 }
            let sparse = Double(nonZeros) <= DecoderLayer.sparseDensityLimit * Double(matrix.storage.count)
                ? SparseMatrix(matrix, valueType: .f32) : nil
            cache[role] = .some(sparse)
            return sparse
        }
    }

    func weight(_ role: TensorRole, _ matrix: Matrix) -> PackedBF16Weight {
        cache.withLock { cache in
            if let packed = cache[role] { return packed }
            let packed = PackedBF16Weight(matrix)
            cache[role] = packed
            return packed
        }
    }
}
