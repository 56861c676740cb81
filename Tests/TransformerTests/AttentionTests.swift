import Testing
import Kernels
import TensorCore
import Transformer
import _TestSupport

/// The tiled, head-stacked attention kernel against the definition.
@Suite struct AttentionTests {
    /// Shapes `(P, T, H, K, d, C, threads)`: queries at positions `P..<P+T` after a prefix of `P`
    /// positions whose keys and values are given; row `t` must equal row `P + t` of plain causal
    /// attention over all `P + T` positions (`P = 0`: the plain case). Sizes chosen so tiles do
    /// not divide T, groups hold several heads, and some cases have a single tile or query.
    /// Tolerance: inputs in [-1, 1], so each output is a convex combination of v values; Float
    /// dot products of d terms and a softmax of ≤ P+T terms keep the error around
    /// `(d + P + T)·2⁻²⁴` of the largest |v| — 1e-5 absolute covers it.
    @Test(arguments: [(0, 37, 6, 2, 8, 16, 2), (0, 5, 4, 4, 6, 16, 1), (0, 130, 9, 3, 64, 64, 2), (0, 64, 2, 1, 16, 64, 3),
                      (11, 5, 6, 2, 8, 4, 2), (1, 40, 4, 4, 16, 16, 1), (30, 3, 6, 3, 8, 8, 2)])
    func matchesDefinition(_ shape: (Int, Int, Int, Int, Int, Int, Int)) {
        let (p, t, heads, kvHeads, d, tile, threads) = shape
        let all = p + t
        let c = ModelConfiguration(architecture: .llama, layerCount: 1, hiddenSize: heads * d, intermediateSize: 4,
                                   headCount: heads, keyValueHeadCount: kvHeads, headDimension: d, vocabularySize: 4,
                                   rmsNormEpsilon: 1e-5, ropeTheta: 10_000, contextLength: all, tiedEmbeddings: true)
        var generator = SeededGenerator(seed: UInt64(p * 131 + t * 31 + heads))
        let q = generator.uniform(count: all * heads * d), k = generator.uniform(count: all * kvHeads * d)
        let v = generator.uniform(count: all * kvHeads * d)
        var context = [Float](repeating: .nan, count: t * heads * d)
        let workspace = BlockWorkspace(configuration: c, capacity: all, threads: ComputeThreads(threads), tileRows: tile)
        let queries = Array(q[(p * heads * d)...])
        context.withUnsafeMutableBufferPointer { cb in
            Attention.apply(query: queries, key: k, value: v, context: cb.baseAddress!, tokens: t, prefix: p, configuration: c,
                            workspace: workspace)
        }
        let expected = Reference.causalAttention(q: q, k: k, v: v, tokens: all, heads: heads, keyValueHeads: kvHeads,
                                                 headDimension: d)
        let worst = zip(context, expected[(p * heads * d)...]).map { abs(Double($0) - $1) }.max() ?? .nan
        #expect(worst <= 1e-5, "P=\(p) T=\(t) H=\(heads) K=\(kvHeads) d=\(d) C=\(tile): max |Δ| \(worst)")
    }
}
