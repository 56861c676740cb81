import Testing
import Kernels
import TensorCore
import Transformer
import _TestSupport

/// The tiled, head-stacked attention kernel against the definition.
@Suite struct AttentionTests {
    /// Sizes chosen so tiles do not divide T, groups hold several heads, and one case has a
    /// single tile. Tolerance: inputs in [-1, 1], so each output is a convex combination of v
    /// values; Float dot products of d terms and a softmax of ≤ T terms keep the error around
    /// `(d + T)·2⁻²⁴` of the largest |v| — 1e-5 absolute covers it.
    @Test(arguments: [(37, 6, 2, 8, 16, 2), (5, 4, 4, 6, 16, 1), (130, 9, 3, 64, 64, 2), (64, 2, 1, 16, 64, 3)])
    func matchesDefinition(_ shape: (Int, Int, Int, Int, Int, Int)) {
        let (t, heads, kvHeads, d, tile, threads) = shape
        let c = ModelConfiguration(architecture: .llama, layerCount: 1, hiddenSize: heads * d, intermediateSize: 4,
                                   headCount: heads, keyValueHeadCount: kvHeads, headDimension: d, vocabularySize: 4,
                                   rmsNormEpsilon: 1e-5, ropeTheta: 10_000, contextLength: t, tiedEmbeddings: true)
        var generator = SeededGenerator(seed: UInt64(t * 31 + heads))
        let q = generator.uniform(count: t * heads * d), k = generator.uniform(count: t * kvHeads * d)
        let v = generator.uniform(count: t * kvHeads * d)
        var context = [Float](repeating: .nan, count: t * heads * d)
        let workspace = BlockWorkspace(configuration: c, capacity: t, threads: ComputeThreads(threads), tileRows: tile)
        context.withUnsafeMutableBufferPointer { cb in
            Attention.apply(query: q, key: k, value: v, context: cb.baseAddress!, tokens: t, configuration: c,
                            workspace: workspace)
        }
        let expected = Reference.causalAttention(q: q, k: k, v: v, tokens: t, heads: heads, keyValueHeads: kvHeads,
                                                 headDimension: d)
        let worst = zip(context, expected).map { abs(Double($0) - $1) }.max() ?? .nan
        #expect(worst <= 1e-5, "T=\(t) H=\(heads) K=\(kvHeads) d=\(d) C=\(tile): max |Δ| \(worst)")
    }

    /// Queries after a prefix of `P` positions whose keys and values are given: row `t` must
    /// equal row `P + t` of plain causal attention over all `P + T` positions.
    @Test(arguments: [(11, 5, 6, 2, 8, 4, 2), (1, 40, 4, 4, 16, 16, 1), (30, 3, 6, 3, 8, 8, 2)])
    func prefixRowsMatchTheWholeSequence(_ shape: (Int, Int, Int, Int, Int, Int, Int)) {
        let (p, t, heads, kvHeads, d, tile, threads) = shape
        let all = p + t
        let c = ModelConfiguration(architecture: .llama, layerCount: 1, hiddenSize: heads * d, intermediateSize: 4,
                                   headCount: heads, keyValueHeadCount: kvHeads, headDimension: d, vocabularySize: 4,
                                   rmsNormEpsilon: 1e-5, ropeTheta: 10_000, contextLength: all, tiedEmbeddings: true)
        var generator = SeededGenerator(seed: UInt64(p * 131 + t))
        let q = generator.uniform(count: all * heads * d), k = generator.uniform(count: all * kvHeads * d)
        let v = generator.uniform(count: all * kvHeads * d)
        var context = [Float](repeating: .nan, count: t * heads * d)
        let workspace = BlockWorkspace(configuration: c, capacity: all, threads: ComputeThreads(threads), tileRows: tile)
        let tail = Array(q[(p * heads * d)...])
        context.withUnsafeMutableBufferPointer { cb in
            Attention.apply(query: tail, key: k, value: v, context: cb.baseAddress!, tokens: t, prefix: p, configuration: c,
                            workspace: workspace)
        }
        let expected = Reference.causalAttention(q: q, k: k, v: v, tokens: all, heads: heads, keyValueHeads: kvHeads,
                                                 headDimension: d)
        let worst = zip(context, expected[(p * heads * d)...]).map { abs(Double($0) - $1) }.max() ?? .nan
        #expect(worst <= 1e-5, "P=\(p) T=\(t) H=\(heads) K=\(kvHeads) d=\(d) C=\(tile): max |Δ| \(worst)")
    }
}
