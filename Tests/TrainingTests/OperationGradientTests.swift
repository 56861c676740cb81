import Foundation
import Kernels
import Testing
import TensorCore
import Training
import Transformer

/// Each operation's backward pass against central differences in Double, on seeded random inputs
/// with sizes that are not multiples of anything: the loss is `L = Σ c ⊙ op(inputs)` for a random
/// `c`, so `dL/d(output) = c` and every input's gradient is checked entry by entry.
///
/// Tolerance: step h = 1e-5 gives a truncation error of order h² and a rounding error of order
/// 1e-16/h, both below 1e-9 of the gradient's scale here; a wrong formula or index gives errors of
/// order 1. The bound is 1e-6 of the largest gradient entry.
@Suite struct OperationGradientTests {
    static let tolerance = 1e-6

    /// Perturbs `values[i]` by `delta` and evaluates `f`.
    static func perturbed(_ values: [Double], _ i: Int, _ delta: Double, _ f: ([Double]) -> Double) -> Double {
        var copy = values
        copy[i] += delta
        return f(copy)
    }

    static func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    @Test func rmsNormInputAndGain() {
        let (t, d) = (5, 7)
        let x = randomMatrix(t, d, seed: 1), c = randomDoubles(t * d, seed: 2)
        let w = randomDoubles(d, seed: 3).map { 1 + 0.5 * $0 }
        let epsilon = 1e-5
        func loss(_ x: [Double], _ w: [Double]) -> Double {
            Self.dot(c, RMSNormLayer.forward(TrainingMatrix(rows: t, columns: d, storage: x), gain: w, epsilon: epsilon).output.storage)
        }
        let inverseRMS = RMSNormLayer.forward(x, gain: w, epsilon: epsilon).inverseRMS
        let (dx, dw) = RMSNormLayer.backward(TrainingMatrix(rows: t, columns: d, storage: c), input: x, gain: w, inverseRMS: inverseRMS)
        let fdx = centralDifferences(count: t * d) { i, h in Self.perturbed(x.storage, i, h) { loss($0, w) } }
        let fdw = centralDifferences(count: d) { i, h in Self.perturbed(w, i, h) { loss(x.storage, $0) } }
        #expect(relativeError(dx.storage, fdx) < Self.tolerance)
        #expect(relativeError(dw, fdw) < Self.tolerance)
    }

    @Test(arguments: [RotaryConvention.interleaved, .halfSplit])
    func rotaryIsInvertedByItsBackward(_ convention: RotaryConvention) throws {
        let (t, heads, d) = (6, 3, 6)
        let rope = RotaryLayer<Double>(try RotaryEmbedding(base: 10, headDimension: d, maxPositions: 8), convention: convention)
        let x = randomMatrix(t, heads * d, seed: 4), c = randomDoubles(t * heads * d, seed: 5)
        func loss(_ values: [Double]) -> Double {
            var y = TrainingMatrix(rows: t, columns: heads * d, storage: values)
            rope.forward(&y)
            return Self.dot(c, y.storage)
        }
        var dx = TrainingMatrix(rows: t, columns: heads * d, storage: c)
        rope.backward(&dx)
        let fd = centralDifferences(count: x.count) { i, h in Self.perturbed(x.storage, i, h, loss) }
        #expect(relativeError(dx.storage, fd) < Self.tolerance)
        // The forward is the production kernel's rotation (Float tables, same pairing).
        var rotated = x
        rope.forward(&rotated)
        var production = x.matrix
        try RotaryEmbedding(base: 10, headDimension: d, maxPositions: 8).apply(to: &production, headCount: heads, startPosition: 0,
                                                                               convention: convention)
        #expect(relativeError(production.storage.map(Double.init), rotated.storage) < 1e-6)
    }

    /// Grouped (4 query heads on 2 or 1 key/value heads) and one key/value head per query head;
    /// the products in one block of query rows or in blocks of 1, 2 and 3 (7 rows: a short last
    /// block), which equal the one-block result.
    @Test(arguments: [(2, 128), (1, 3), (4, 2), (2, 1)])
    func causalAttention(_ keyValueHeads: Int, _ rowBlock: Int) {
        let (t, heads, d) = (7, 4, 4)
        let c = ModelConfiguration(architecture: .llama, layerCount: 1, hiddenSize: 16, intermediateSize: 8, headCount: heads,
                                   keyValueHeadCount: keyValueHeads, headDimension: d, vocabularySize: 8, rmsNormEpsilon: 1e-5,
                                   ropeTheta: 100, contextLength: t, tiedEmbeddings: true)
        let kv = keyValueHeads * d
        let q = randomMatrix(t, heads * d, seed: 6, scale: 2), k = randomMatrix(t, kv, seed: 7, scale: 2)
        let v = randomMatrix(t, kv, seed: 8), weights = randomDoubles(t * heads * d, seed: 9)
        func loss(_ q: TrainingMatrix<Double>, _ k: TrainingMatrix<Double>, _ v: TrainingMatrix<Double>) -> Double {
            Self.dot(weights, CausalAttentionLayer.forward(query: q, key: k, value: v, configuration: c, rowBlock: rowBlock).context.storage)
        }
        let (_, p) = CausalAttentionLayer.forward(query: q, key: k, value: v, configuration: c, rowBlock: rowBlock)
        let dContext = TrainingMatrix(rows: t, columns: heads * d, storage: weights)
        let (dq, dk, dv) = CausalAttentionLayer.backward(dContext, query: q, key: k, value: v, probabilities: p, configuration: c,
                                                         rowBlock: rowBlock)
        let (oneContext, oneP) = CausalAttentionLayer.forward(query: q, key: k, value: v, configuration: c, rowBlock: t)
        let one = CausalAttentionLayer.backward(dContext, query: q, key: k, value: v, probabilities: oneP, configuration: c, rowBlock: t)
        #expect(relativeError(p, oneP) < 1e-14)
        #expect(relativeError(CausalAttentionLayer.forward(query: q, key: k, value: v, configuration: c, rowBlock: rowBlock).context.storage,
                              oneContext.storage) < 1e-14)
        #expect(relativeError(dq.storage, one.query.storage) < 1e-14 && relativeError(dk.storage, one.key.storage) < 1e-14
                && relativeError(dv.storage, one.value.storage) < 1e-14)
        func replaced(_ m: TrainingMatrix<Double>, _ values: [Double]) -> TrainingMatrix<Double> {
            TrainingMatrix(rows: m.rows, columns: m.columns, storage: values)
        }
        let fq = centralDifferences(count: q.count) { i, h in Self.perturbed(q.storage, i, h) { loss(replaced(q, $0), k, v) } }
        let fk = centralDifferences(count: k.count) { i, h in Self.perturbed(k.storage, i, h) { loss(q, replaced(k, $0), v) } }
        let fv = centralDifferences(count: v.count) { i, h in Self.perturbed(v.storage, i, h) { loss(q, k, replaced(v, $0)) } }
        #expect(relativeError(dq.storage, fq) < Self.tolerance)
        #expect(relativeError(dk.storage, fk) < Self.tolerance)
        #expect(relativeError(dv.storage, fv) < Self.tolerance)
        // Causality: the first row sees only itself, so its context is v's first row for each head.
        let context = CausalAttentionLayer.forward(query: q, key: k, value: v, configuration: c, rowBlock: rowBlock).context
        for h in 0..<heads {
            let g = h / (heads / keyValueHeads)
            #expect(relativeError(Array(context.storage[(h * d)..<((h + 1) * d)]), Array(v.storage[(g * d)..<((g + 1) * d)])) < 1e-12)
        }
    }

    @Test func swiGLU() {
        let (t, f) = (5, 6)
        let gate = randomMatrix(t, f, seed: 10, scale: 3), up = randomMatrix(t, f, seed: 11), c = randomDoubles(t * f, seed: 12)
        func loss(_ g: [Double], _ u: [Double]) -> Double {
            Self.dot(c, SwiGLULayer.forward(gate: TrainingMatrix(rows: t, columns: f, storage: g),
                                            up: TrainingMatrix(rows: t, columns: f, storage: u)).storage)
        }
        let (dg, du) = SwiGLULayer.backward(TrainingMatrix(rows: t, columns: f, storage: c), gate: gate, up: up)
        let fg = centralDifferences(count: t * f) { i, h in Self.perturbed(gate.storage, i, h) { loss($0, up.storage) } }
        let fu = centralDifferences(count: t * f) { i, h in Self.perturbed(up.storage, i, h) { loss(gate.storage, $0) } }
        #expect(relativeError(dg.storage, fg) < Self.tolerance)
        #expect(relativeError(du.storage, fu) < Self.tolerance)
    }

    /// Chunks of 4 rows over 9 (the last chunk partial), one unscored row.
    @Test func crossEntropyInChunks() {
        let (t, d, v) = (9, 16, 40)
        let hidden = randomMatrix(t, d, seed: 13), head = randomMatrix(v, d, seed: 14)
        let gain = randomDoubles(d, seed: 15).map { 1 + 0.3 * $0 }
        let targets = tinyTokens(t).targets
        func loss(_ h: [Double], _ w: [Double]) -> Double {
            CrossEntropyHead.lossAndGradient(hidden: TrainingMatrix(rows: t, columns: d, storage: h), targets: targets, normGain: w,
                                             epsilon: 1e-5, head: head, normalizer: 8, chunkRows: 4).lossSum / 8
        }
        let result = CrossEntropyHead.lossAndGradient(hidden: hidden, targets: targets, normGain: gain, epsilon: 1e-5, head: head,
                                                      normalizer: 8, chunkRows: 4)
        #expect(result.scored == 8)
        let fh = centralDifferences(count: t * d) { i, h in Self.perturbed(hidden.storage, i, h) { loss($0, gain) } }
        let fw = centralDifferences(count: d) { i, h in Self.perturbed(gain, i, h) { loss(hidden.storage, $0) } }
        #expect(relativeError(result.hidden.storage, fh) < Self.tolerance)
        #expect(relativeError(result.gain, fw) < Self.tolerance)
        // The loss is the definition over full logits, and one chunk gives the same gradient.
        let logits = CrossEntropyHead.logits(hidden: hidden, normGain: gain, epsilon: 1e-5, head: head)
        var expected = 0.0
        for (row, target) in targets.enumerated() where target >= 0 {
            let z = Array(logits.storage[(row * v)..<((row + 1) * v)])
            expected += log(z.map { exp($0) }.reduce(0, +)) - z[Int(target)]
        }
        #expect(abs(result.lossSum - expected) < 1e-12 * expected)
        let whole = CrossEntropyHead.lossAndGradient(hidden: hidden, targets: targets, normGain: gain, epsilon: 1e-5, head: head,
                                                     normalizer: 8, chunkRows: 64)
        #expect(relativeError(result.hidden.storage, whole.hidden.storage) < 1e-12)
    }

    /// A linear with bias, frozen W with zeros, rank-3 adapter with non-zero B; masked or not,
    /// with dropout (p = 0.3, fixed mask) or without. Checks dx, dA and dB.
    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func loraLinear(_ masked: Bool, _ dropped: Bool) throws {
        let (t, input, output, rank) = (6, 10, 7, 3)
        let x = randomMatrix(t, input, seed: 16)
        var weight = randomMatrix(output, input, seed: 17)
        for i in stride(from: 0, to: weight.count, by: 3) { weight.storage[i] = 0 }
        let bias = randomDoubles(output, seed: 18), c = randomDoubles(t * output, seed: 19)
        let a = randomMatrix(rank, input, seed: 20), b = randomMatrix(output, rank, seed: 21)
        let dropout: TrainingMatrix<Double>? = dropped
            ? LoRADropout(probability: 0.3, seed: 5).scales(rows: t, columns: input, block: 0, role: .query) : nil
        func layer(_ a: TrainingMatrix<Double>, _ b: TrainingMatrix<Double>) -> LoRALinear<Double> {
            LoRALinear(weight: weight, bias: bias, adapter: .init(a: a, b: b, scale: 2.5, masked: masked))
        }
        func loss(_ x: TrainingMatrix<Double>, _ a: TrainingMatrix<Double>, _ b: TrainingMatrix<Double>) -> Double {
            Self.dot(c, layer(a, b).forward(x, dropout: dropout).output.storage)
        }
        let (_, cache) = layer(a, b).forward(x, dropout: dropout)
        var dx = TrainingMatrix<Double>(rows: t, columns: input)
        let grads = try #require(layer(a, b).backward(TrainingMatrix(rows: t, columns: output, storage: c), input: x, cache: cache, inputGradient: &dx))
        func with(_ m: TrainingMatrix<Double>, _ values: [Double]) -> TrainingMatrix<Double> {
            TrainingMatrix(rows: m.rows, columns: m.columns, storage: values)
        }
        let fx = centralDifferences(count: x.count) { i, h in Self.perturbed(x.storage, i, h) { loss(with(x, $0), a, b) } }
        let fa = centralDifferences(count: a.count) { i, h in Self.perturbed(a.storage, i, h) { loss(x, with(a, $0), b) } }
        let fb = centralDifferences(count: b.count) { i, h in Self.perturbed(b.storage, i, h) { loss(x, a, with(b, $0)) } }
        #expect(relativeError(dx.storage, fx) < Self.tolerance)
        #expect(relativeError(grads.a.storage, fa) < Self.tolerance)
        #expect(relativeError(grads.b.storage, fb) < Self.tolerance)
        if dropped { #expect(dropout!.storage.contains(0) && dropout!.storage.contains { abs($0 - 1 / 0.7) < 1e-12 }) }
    }
}
