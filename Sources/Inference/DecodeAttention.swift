import Kernels
import Sparse
import Transformer

/// Attention of one new token over the cached keys and values — the decode step — without BLAS:
/// for query head `h` (key/value head `g = h / G`) and the `n` cached positions,
/// `context[h] = Σ_s softmax_s(q[h]·k[s,g] / √d) · v[s,g]`. A GEMM call per head group costs more
/// than this whole loop at decode shapes (one query row); ``Attention`` stays the path for several
/// tokens.
enum DecodeAttention {
    typealias Vector = SIMD16<Float>

    /// - Parameters: q `[H·d]`; k, v `[n, K·d]`; context `[H·d]` (written); scores `[H, ≥ n]`
    ///   scratch with row stride `stride`.
    static func apply(query q: UnsafePointer<Float>, key k: UnsafePointer<Float>, value v: UnsafePointer<Float>,
                      context: UnsafeMutablePointer<Float>, positions n: Int, configuration c: ModelConfiguration,
                      scores: UnsafeMutablePointer<Float>, stride: Int, threads: ComputeThreads) {
        let heads = c.headCount
        // Splitting heads over threads pays once the cache is long.
        forEachChunk(heads, threads: n >= 512 ? threads : .single) { h in
            head(h, q: q, k: k, v: v, context: context, n: n, c: c, scores: scores + h * stride)
        }
    }

    private static func head(_ h: Int, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                             context: UnsafeMutablePointer<Float>, n: Int, c: ModelConfiguration,
                             scores: UnsafeMutablePointer<Float>) {
        let d = c.headDimension, g = h / (c.headCount / c.keyValueHeadCount)
        let kvStride = c.keyValueHeadCount * d
        let scale = 1 / Float(d).squareRoot()
        let qh = q + h * d
        let vectors = d / 16
        for s in 0..<n {
            let ks = k + s * kvStride + g * d
            var acc = Vector()
            for i in 0..<vectors { acc += load(qh + 16 * i) * load(ks + 16 * i) }
            var sum = acc.sum()
            for i in (vectors * 16)..<d { sum += qh[i] * ks[i] }
            scores[s] = sum * scale
        }
        SoftmaxKernel.applyRow(scores, count: n)
        let out = context + h * d
        out.update(repeating: 0, count: d)
        for s in 0..<n {
            let p = scores[s], vs = v + s * kvStride + g * d
            let pv = Vector(repeating: p)
            for i in 0..<vectors { store(load(out + 16 * i) + pv * load(vs + 16 * i), out + 16 * i) }
            for i in (vectors * 16)..<d { out[i] += p * vs[i] }
        }
    }

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> Vector {
        UnsafeRawPointer(p).loadUnaligned(as: Vector.self)
    }

    @inline(__always) static func load(_ p: UnsafeMutablePointer<Float>) -> Vector { load(UnsafePointer(p)) }

    @inline(__always) static func store(_ x: Vector, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: x, as: Vector.self)
    }
}
