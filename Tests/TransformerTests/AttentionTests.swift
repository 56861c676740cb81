import Testing
import Kernels
import TensorCore
import Transformer
import _TestSupport

/// The tiled, head-stacked attention kernel against the definition.
@Suite struct AttentionTests {
    /// A one-block configuration with only attention's shape set (the rest is never read).
    static func configuration(heads: Int, kvHeads: Int, d: Int, context: Int) -> ModelConfiguration {
        ModelConfiguration(architecture: .llama, layerCount: 1, hiddenSize: heads * d, intermediateSize: 4,
                           headCount: heads, keyValueHeadCount: kvHeads, headDimension: d, vocabularySize: 4,
                           rmsNormEpsilon: 1e-5, ropeTheta: 10_000, contextLength: context, tiedEmbeddings: true)
    }

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
        for fused in [false, true] { checkDefinition(shape, fused: fused) }
    }

    private func checkDefinition(_ shape: (Int, Int, Int, Int, Int, Int, Int), fused: Bool) {
        let (p, t, heads, kvHeads, d, tile, threads) = shape
        let all = p + t
        let c = Self.configuration(heads: heads, kvHeads: kvHeads, d: d, context: all)
        var generator = SeededGenerator(seed: UInt64(p * 131 + t * 31 + heads))
        let q = generator.uniform(count: all * heads * d), k = generator.uniform(count: all * kvHeads * d)
        let v = generator.uniform(count: all * kvHeads * d)
        var context = [Float](repeating: .nan, count: t * heads * d)
        let workspace = BlockWorkspace(configuration: c, capacity: all, threads: ComputeThreads(threads), tileRows: tile)
        let queries = Array(q[(p * heads * d)...])
        context.withUnsafeMutableBufferPointer { cb in
            Attention.apply(query: queries, key: k, value: v, context: cb.baseAddress!, tokens: t, prefix: p, configuration: c,
                            workspace: workspace, fused: fused)
        }
        let expected = Reference.causalAttention(q: q, k: k, v: v, tokens: all, heads: heads, keyValueHeads: kvHeads,
                                                 headDimension: d)
        let worst = zip(context, expected[(p * heads * d)...]).map { abs(Double($0) - $1) }.max() ?? .nan
        #expect(worst <= 1e-5, "P=\(p) T=\(t) H=\(heads) K=\(kvHeads) d=\(d) C=\(tile) fused \(fused): max |Δ| \(worst)")
    }

    /// The fused kernel (where this CPU runs it) against its BLAS twin on shapes that exercise its
    /// blocking: several key blocks of 64 with a prefix that is no multiple of 64, tiles that do
    /// not divide T, GQA ratios 1, 3 and 7, head dimensions 8, 24 (a half column block), 64 and
    /// 128, and queries scaled ×4 so row maxima change from block to block (the online rescaling).
    /// Tolerance: each output is a convex combination of values in [-1, 1]; the two paths sum the
    /// same terms in different orders (dot products of d terms, softmax sums of ≤ P+T terms), so
    /// they differ by a few times `(d + P + T)·2⁻²⁴` at most — 1e-5 of the largest |v| (1).
    @Test(arguments: [(70, 130, 14, 2, 64, 32, 2), (0, 200, 3, 3, 128, 64, 2), (0, 150, 9, 3, 24, 50, 2),
                      (5, 67, 7, 1, 8, 16, 1), (129, 1, 9, 3, 64, 128, 2), (0, 1, 4, 2, 16, 8, 1), (63, 66, 6, 2, 32, 128, 1)])
    func fusedMatchesTwin(_ shape: (Int, Int, Int, Int, Int, Int, Int)) throws {
        try #require(Attention.fusedKernelAvailable, "this CPU has no AVX2: the fused kernel never runs")
        let (p, t, heads, kvHeads, d, tile, threads) = shape
        let all = p + t
        let c = Self.configuration(heads: heads, kvHeads: kvHeads, d: d, context: all)
        #expect(Attention.fusedKernelHandles(c))
        var generator = SeededGenerator(seed: UInt64(p * 7 + t * 13 + d))
        let q = generator.uniform(count: t * heads * d).map { $0 * 4 }
        let k = generator.uniform(count: all * kvHeads * d), v = generator.uniform(count: all * kvHeads * d)
        let workspace = BlockWorkspace(configuration: c, capacity: all, threads: ComputeThreads(threads), tileRows: tile)
        func run(fused: Bool) -> [Float] {
            var context = [Float](repeating: .nan, count: t * heads * d)
            context.withUnsafeMutableBufferPointer { cb in
                Attention.apply(query: q, key: k, value: v, context: cb.baseAddress!, tokens: t, prefix: p, configuration: c,
                                workspace: workspace, fused: fused)
            }
            return context
        }
        let (twin, fused) = (run(fused: false), run(fused: true))
        let worst = zip(fused, twin).map { abs($0 - $1) }.max() ?? .nan
        #expect(worst <= 1e-5, "P=\(p) T=\(t) H=\(heads) K=\(kvHeads) d=\(d) C=\(tile): max |Δ| \(worst)")
        #expect(!fused.contains { !$0.isFinite })
    }

    /// The bf16 kernel (`--precision bf16`, where the CPU has AVX512_BF16) against the f32 BLAS
    /// twin on the same inputs: queries, keys, values and probabilities are rounded to bf16 (8
    /// significant bits), so the context moves by about 2⁻⁹ of the values' scale per rounding,
    /// amplified through the softmax by the score error (|q|·|k| ≈ d/3 here, ×2⁻⁹): 1e-2 absolute
    /// on values in [-1, 1] (measured: 4e-4 to 2.8e-3 over these shapes; a probability paired with
    /// the wrong value row or a missing rescale moves it by 1e-1). It must differ from f32, or the
    /// bf16 path did not run.
    @Test(.enabled(if: ComputePrecision.bf16.unsupportedReason == nil, "this CPU has no AVX512_BF16: the bf16 kernels never run"), arguments: [(70, 130, 14, 2, 64, 32, 2), (0, 200, 3, 3, 128, 64, 2), (0, 150, 9, 3, 16, 50, 2),
                      (5, 67, 7, 1, 80, 16, 1), (129, 1, 9, 3, 64, 128, 2)])
    func bf16MatchesTwinWithinRounding(_ shape: (Int, Int, Int, Int, Int, Int, Int)) throws {
        let (p, t, heads, kvHeads, d, tile, threads) = shape
        let all = p + t
        let c = Self.configuration(heads: heads, kvHeads: kvHeads, d: d, context: all)
        var generator = SeededGenerator(seed: UInt64(p * 5 + t * 11 + d))
        let q = generator.uniform(count: t * heads * d)
        let k = generator.uniform(count: all * kvHeads * d), v = generator.uniform(count: all * kvHeads * d)
        func run(_ precision: ComputePrecision, fused: Bool) -> [Float] {
            let workspace = BlockWorkspace(configuration: c, capacity: all, threads: ComputeThreads(threads), tileRows: tile,
                                           precision: precision)
            var context = [Float](repeating: .nan, count: t * heads * d)
            context.withUnsafeMutableBufferPointer { cb in
                Attention.apply(query: q, key: k, value: v, context: cb.baseAddress!, tokens: t, prefix: p, configuration: c,
                                workspace: workspace, fused: fused)
            }
            return context
        }
        let (twin, bf16) = (run(.f32, fused: false), run(.bf16, fused: true))
        let worst = zip(bf16, twin).map { abs($0 - $1) }.max() ?? .nan
        #expect(worst <= 1e-2, "P=\(p) T=\(t) H=\(heads) K=\(kvHeads) d=\(d) C=\(tile): max |Δ| \(worst)")
        #expect(worst > 0, "identical to f32: the bf16 kernel did not run")
    }
}
