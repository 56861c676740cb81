import Kernels
import Transformer

/// Causal grouped-query self-attention over projected, rotated q, k, v, with its backward pass.
///
/// Letters: T tokens, H query heads, K key/value heads, G = H/K query heads per key/value head,
/// d head width. Query head `h` reads key/value head `g = h / G`. Per head:
///
///     S = Q_h · K_gᵀ / √d                   [T, T], keys s > t masked
///     P = softmax over s ≤ t of S           [T, T]
///     O_h = P · V_g                          [T, d]
///
/// Backward, for `dO_h`:
///
///     dP   = dO_h · V_gᵀ
///     dS   = P ⊙ (dP − rowsum(dP ⊙ P))       (softmax backward; zero above the diagonal)
///     dQ_h = dS · K_g / √d
///     dK_g += dSᵀ · Q_h / √d,  dV_g += Pᵀ · dO_h   (summed over the G query heads of the group)
///
/// The forward keeps `P` (`[H, T, T]`) for the backward pass. The products run by blocks of
/// `rowBlock` query rows, each over the keys up to its last row only, so most of the masked
/// triangle is skipped (with T = 512 and blocks of 128, 62.5% of the full products' work); the
/// entries above the diagonal are zero. The same definition as `Transformer.Attention`.
public enum CausalAttentionLayer {
    /// Query rows per block of the products (``forward(query:key:value:configuration:rowBlock:)``).
    public static let defaultRowBlock = 128

    /// The context `[T, H·d]` and the probabilities `P` `[H, T, T]` for q `[T, H·d]`, k and v `[T, K·d]`.
    public static func forward<S: TrainingScalar>(query q: TrainingMatrix<S>, key k: TrainingMatrix<S>,
                                                  value v: TrainingMatrix<S>, configuration c: ModelConfiguration,
                                                  rowBlock: Int = defaultRowBlock)
        -> (context: TrainingMatrix<S>, probabilities: [S]) {
        let t = q.rows, d = c.headDimension, heads = c.headCount, groups = c.keyValueHeadCount
        let qStride = heads * d, kvStride = groups * d, perGroup = heads / groups
        precondition(q.columns == qStride && k.columns == kvStride && v.columns == kvStride && k.rows == t && v.rows == t,
                     "attention: q [\(q.rows), \(q.columns)], k [\(k.rows), \(k.columns)], v [\(v.rows), \(v.columns)]")
        let scale = 1 / S(d).squareRoot()
        var context = TrainingMatrix<S>(rows: t, columns: qStride)
        var probabilities = [S](repeating: 0, count: heads * t * t)
        let threads = TrainingThreads.current
        q.storage.withUnsafeBufferPointer { qb in
            k.storage.withUnsafeBufferPointer { kb in
                v.storage.withUnsafeBufferPointer { vb in
                    context.storage.withUnsafeMutableBufferPointer { cb in
                        probabilities.withUnsafeMutableBufferPointer { pb in
                            let (qp, kp, vp) = (SharedPointer(qb.baseAddress!), SharedPointer(kb.baseAddress!), SharedPointer(vb.baseAddress!))
                            let (cp, pp) = (SharedPointer(cb.baseAddress!), SharedPointer(pb.baseAddress!))
                            // Heads are independent: each writes its own columns of the context and its own P.
                            BLASRuntime.singleThreaded { parallelFor(0..<heads, threads: threads) { range in
                                for h in range {
                                    let g = h / perGroup, p = pp.base + h * t * t
                                    for r0 in stride(from: 0, to: t, by: rowBlock) {
                                        // Rows r0..<r1 see keys 0..<r1.
                                        let r1 = min(t, r0 + rowBlock), rows = r1 - r0, pr = p + r0 * t
                                        // S = Q_h · K_gᵀ / √d
                                        S.gemm(transposeA: false, transposeB: true, m: rows, n: r1, k: d, alpha: scale,
                                               a: qp.base + r0 * qStride + h * d, lda: qStride, b: kp.base + g * d, ldb: kvStride,
                                               beta: 0, c: pr, ldc: t)
                                        for row in r0..<r1 { causalSoftmax(p + row * t, visible: row + 1, count: t) }
                                        // O_h = P · V_g
                                        S.gemm(transposeA: false, transposeB: false, m: rows, n: d, k: r1, alpha: 1,
                                               a: pr, lda: t, b: vp.base + g * d, ldb: kvStride, beta: 0,
                                               c: cp.base + r0 * qStride + h * d, ldc: qStride)
                                    }
                                }
                            } }
                        }
                    }
                }
            }
        }
        return (context, probabilities)
    }

    /// `dq` `[T, H·d]`, `dk`, `dv` `[T, K·d]` for `dContext` `[T, H·d]`, given the forward's inputs and `P`.
    public static func backward<S: TrainingScalar>(_ dContext: TrainingMatrix<S>, query q: TrainingMatrix<S>,
                                                   key k: TrainingMatrix<S>, value v: TrainingMatrix<S>,
                                                   probabilities: [S], configuration c: ModelConfiguration,
                                                   rowBlock: Int = defaultRowBlock)
        -> (query: TrainingMatrix<S>, key: TrainingMatrix<S>, value: TrainingMatrix<S>) {
        let t = q.rows, d = c.headDimension, heads = c.headCount, groups = c.keyValueHeadCount
        let qStride = heads * d, kvStride = groups * d, perGroup = heads / groups
        precondition(dContext.rows == t && dContext.columns == qStride && probabilities.count == heads * t * t,
                     "attention backward: shapes differ from the forward's")
        let scale = 1 / S(d).squareRoot()
        var dq = TrainingMatrix<S>(rows: t, columns: qStride)
        var dk = TrainingMatrix<S>(rows: t, columns: kvStride), dv = dk
        // Each head's share of dK_g and dV_g, [H, T, d], summed over the group's heads in head
        // order afterwards, so the heads can run in parallel and the sum does not depend on who ran which.
        var headKey = [S](repeating: 0, count: heads * t * d), headValue = headKey
        let threads = TrainingThreads.current
        q.storage.withUnsafeBufferPointer { qb in
        k.storage.withUnsafeBufferPointer { kb in
        v.storage.withUnsafeBufferPointer { vb in
        dContext.storage.withUnsafeBufferPointer { ob in
        probabilities.withUnsafeBufferPointer { pb in
        dq.storage.withUnsafeMutableBufferPointer { dqb in
        headKey.withUnsafeMutableBufferPointer { hkb in
        headValue.withUnsafeMutableBufferPointer { hvb in
            let (qp, kp, vp, op) = (SharedPointer(qb.baseAddress!), SharedPointer(kb.baseAddress!), SharedPointer(vb.baseAddress!),
                                    SharedPointer(ob.baseAddress!))
            let (pp, dqp) = (SharedPointer(pb.baseAddress!), SharedPointer(dqb.baseAddress!))
            let (hkp, hvp) = (SharedPointer(hkb.baseAddress!), SharedPointer(hvb.baseAddress!))
            BLASRuntime.singleThreaded { parallelFor(0..<heads, threads: threads) { range in
                var scores = [S](repeating: 0, count: t * t)   // dP, then dS, of one head
                scores.withUnsafeMutableBufferPointer { sb in
                    let ds = sb.baseAddress!
                    for h in range {
                        let g = h / perGroup, p = pp.base + h * t * t
                        let dKey = hkp.base + h * t * d, dValue = hvp.base + h * t * d
                        // By blocks of query rows r0..<r1, which see keys 0..<r1; dK_h and dV_h
                        // (zero to start) gather every block's share of keys 0..<r1.
                        for r0 in stride(from: 0, to: t, by: rowBlock) {
                            let r1 = min(t, r0 + rowBlock), rows = r1 - r0
                            let pr = p + r0 * t, sr = ds + r0 * t, dO = op.base + r0 * qStride + h * d
                            // dP = dO_h · V_gᵀ
                            S.gemm(transposeA: false, transposeB: true, m: rows, n: r1, k: d, alpha: 1,
                                   a: dO, lda: qStride, b: vp.base + g * d, ldb: kvStride, beta: 0, c: sr, ldc: t)
                            // dV_h += Pᵀ · dO_h
                            S.gemm(transposeA: true, transposeB: false, m: r1, n: d, k: rows, alpha: 1,
                                   a: pr, lda: t, b: dO, ldb: qStride, beta: 1, c: dValue, ldc: d)
                            // dS = P ⊙ (dP − rowsum(dP ⊙ P)) over the visible keys.
                            for row in r0..<r1 {
                                let prow = p + row * t, srow = ds + row * t
                                var dot: S = 0
                                for s in 0...row { dot += prow[s] * srow[s] }
                                for s in 0...row { srow[s] = prow[s] * (srow[s] - dot) }
                                for s in (row + 1)..<r1 { srow[s] = 0 }
                            }
                            // dQ_h = dS · K_g / √d
                            S.gemm(transposeA: false, transposeB: false, m: rows, n: d, k: r1, alpha: scale,
                                   a: sr, lda: t, b: kp.base + g * d, ldb: kvStride, beta: 0,
                                   c: dqp.base + r0 * qStride + h * d, ldc: qStride)
                            // dK_h += dSᵀ · Q_h / √d
                            S.gemm(transposeA: true, transposeB: false, m: r1, n: d, k: rows, alpha: scale,
                                   a: sr, lda: t, b: qp.base + r0 * qStride + h * d, ldb: qStride, beta: 1, c: dKey, ldc: d)
                        }
                    }
                }
            } }
        }}}}}}}}
        // dK_g = Σ dK_h, dV_g = Σ dV_h over the group's heads, in head order.
        for h in 0..<heads {
            let g = h / perGroup
            for row in 0..<t {
                for j in 0..<d {
                    dk.storage[row * kvStride + g * d + j] += headKey[(h * t + row) * d + j]
                    dv.storage[row * kvStride + g * d + j] += headValue[(h * t + row) * d + j]
                }
            }
        }
        return (dq, dk, dv)
    }

    /// Softmax of the first `visible` values of a row of `count`, in place, the rest set to 0.
    @inline(__always)
    static func causalSoftmax<S: TrainingScalar>(_ row: UnsafeMutablePointer<S>, visible: Int, count: Int) {
        var largest = row[0]
        for s in 1..<visible where row[s] > largest { largest = row[s] }
        var sum: S = 0
        for s in 0..<visible {
            row[s] = S.exponential(row[s] - largest)
            sum += row[s]
        }
        let inverse = 1 / sum
        for s in 0..<visible { row[s] *= inverse }
        for s in visible..<count { row[s] = 0 }
    }
}
