import CSparse
import Kernels
import Sparse
import Transformer

/// Attention of one new token over the cached keys and values — the decode step — without BLAS:
/// for query head `h` (key/value head `g = h / G`) and the `n` cached positions,
/// `context[h] = Σ_s softmax_s(q[h]·k[s,g] / √d) · v[s,g]`. A GEMM call per head group costs more
/// than this whole loop at decode shapes (one query row); ``Attention`` stays the path for several
/// tokens.
public enum DecodeAttention {
    /// - Parameters: q `[H·d]`; k, v `[n, K·d]`; context `[H·d]` (written); scores `[H, ≥ n]`
    ///   scratch with row stride `stride`.
    /// `kernels: false` runs the plain Swift twin (what the kernels are tested against).
    public static func apply(query q: UnsafePointer<Float>, key k: UnsafePointer<Float>, value v: UnsafePointer<Float>,
                             context: UnsafeMutablePointer<Float>, positions n: Int, configuration c: ModelConfiguration,
                             scores: UnsafeMutablePointer<Float>, stride: Int, threads: ComputeThreads,
                             kernels: Bool = useKernels) {
        // One sweep over the cached rows serves every head (the rows come from memory, and a
        // sweep per head group would read them at a stride); past 512 positions the key/value
        // groups are split over threads.
        let perGroup = c.headCount / c.keyValueHeadCount, d = c.headDimension
        let parts = n >= 512 ? min(threads.count, c.keyValueHeadCount) : 1
        forEachChunk(parts, threads: threads) { part in
            let g0 = c.keyValueHeadCount * part / parts, g1 = c.keyValueHeadCount * (part + 1) / parts
            heads(g0 * perGroup..<g1 * perGroup, q: q, k: k + g0 * d, v: v + g0 * d, context: context, n: n, c: c,
                  scores: scores + g0 * perGroup * stride, kernels: kernels)
        }
    }

    /// Heads `range` (whole key/value groups); `k` and `v` point at the first group's columns.
    private static func heads(_ range: Range<Int>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                              context: UnsafeMutablePointer<Float>, n: Int, c: ModelConfiguration,
                              scores: UnsafeMutablePointer<Float>, kernels: Bool) {
        let d = c.headDimension, group = c.headCount / c.keyValueHeadCount, heads = range.count
        let kvStride = c.keyValueHeadCount * d
        let scale = 1 / Float(d).squareRoot()
        let (qh, out) = (q + range.lowerBound * d, context + range.lowerBound * d)
        if kernels {
            csparse_attention_scores_avx2(qh, Int64(heads), Int64(group), k, Int64(n), Int64(d), Int64(kvStride), scale, scores)
        } else {
            for s in 0..<n {
                for j in 0..<heads {
                    var sum: Float = 0
                    for i in 0..<d { sum += qh[j * d + i] * k[s * kvStride + (j / group) * d + i] }
                    scores[j * n + s] = sum * scale
                }
            }
        }
        for j in 0..<heads { SoftmaxKernel.applyRow(scores + j * n, count: n) }
        if kernels {
            csparse_attention_values_avx2(scores, Int64(heads), Int64(group), v, Int64(n), Int64(d), Int64(kvStride), out)
        } else {
            out.update(repeating: 0, count: heads * d)
            for s in 0..<n {
                for j in 0..<heads {
                    let p = scores[j * n + s]
                    for i in 0..<d { out[j * d + i] += p * v[s * kvStride + (j / group) * d + i] }
                }
            }
        }
    }

    /// The C loops where the CPU has AVX2 + FMA, else the plain Swift twin above.
    public static let useKernels = SparseKernel.avx2.supports(.f32)
}
