import Foundation

/// Final RMSNorm, LM head and cross-entropy, forward and backward, computed `C` rows at a time so
/// `[T, V]` logits never exist for the whole sequence (only `[C, V]`).
///
/// For row `t` with target `y_t ≥ 0` (rows with a negative target are not scored), `N` the normalizer:
///
///     n = RMSNorm(h_t; w),   z = n·Eᵀ  (E the head `[V, D]`, the embedding when tied)
///     loss = (1/N) Σ_t (logsumexp(z) − z[y_t])
///     dz = (softmax(z) − onehot(y_t)) / N,   dn = dz·E,   dh_t, dw from ``RMSNormLayer/backward(_:input:gain:inverseRMS:)``
///
/// The head is frozen (no `dE`). Each row's loss is summed in Double.
public enum CrossEntropyHead {
    /// The summed loss `Σ_t (logsumexp − z[y_t])` (not divided by N), the scored row count,
    /// `dh` `[T, D]` and `dw` `[D]` of `loss_sum / normalizer` (zero without `computesGradient`).
    public static func lossAndGradient<S: TrainingScalar>(hidden h: TrainingMatrix<S>, targets: [Int32], normGain w: [S],
                                                          epsilon: S, head: TrainingMatrix<S>, normalizer: Int,
                                                          chunkRows: Int = 64, computesGradient: Bool = true)
        -> (lossSum: Double, scored: Int, hidden: TrainingMatrix<S>, gain: [S]) {
        let t = h.rows, d = h.columns, v = head.rows
        precondition(targets.count == t && head.columns == d && chunkRows > 0 && normalizer > 0,
                     "cross-entropy: \(targets.count) targets for \(t) rows, head [\(v), \(head.columns)], chunk \(chunkRows)")
        let inverseN = 1 / S(normalizer)
        var lossSum = 0.0, scored = 0
        var dh = TrainingMatrix<S>(rows: t, columns: d), dw = [S](repeating: 0, count: d)
        for r0 in stride(from: 0, to: t, by: chunkRows) {
            let rows = min(chunkRows, t - r0)
            let slice = TrainingMatrix<S>(rows: rows, columns: d, storage: Array(h.storage[(r0 * d)..<((r0 + rows) * d)]))
            let (normed, inverseRMS) = RMSNormLayer.forward(slice, gain: w, epsilon: epsilon)
            var logits = MatrixProduct.product(normed, head, transposeB: true)   // [C, V], becomes dz
            for i in 0..<rows {
                let target = Int(targets[r0 + i])
                precondition(target < v, "cross-entropy: target \(target) outside the vocabulary of \(v)")
            }
            // Per row: its loss term (Double), then dz in place; rows are independent, the loss
            // terms are summed in row order below.
            var rowLoss = [Double](repeating: .nan, count: rows)
            logits.storage.withUnsafeMutableBufferPointer { lb in
                rowLoss.withUnsafeMutableBufferPointer { rlb in
                    guard let lp = lb.baseAddress, let rlp = rlb.baseAddress else { return }
                    let (logits, rowLoss) = (SharedPointer(lp), SharedPointer(rlp))
                    TrainingParallel.forEach(rows, cost: 4 * lb.count) { range in
                        for i in range {
                            let row = i * v, target = Int(targets[r0 + i])
                            guard target >= 0 else {
                                for j in 0..<v { logits[row + j] = 0 }
                                continue
                            }
                            var largest = logits[row]
                            for j in 1..<v where logits[row + j] > largest { largest = logits[row + j] }
                            let targetLogit = logits[row + target]
                            var sum = 0.0
                            for j in 0..<v {
                                let e = S.exponential(logits[row + j] - largest)
                                logits[row + j] = e
                                sum += Double(e)
                            }
                            rowLoss[i] = Foundation.log(sum) + Double(largest - targetLogit)
                            guard computesGradient else { continue }
                            let scale = S(1 / sum) * inverseN
                            for j in 0..<v { logits[row + j] *= scale }
                            logits[row + target] -= inverseN
                        }
                    }
                }
            }
            for i in 0..<rows where targets[r0 + i] >= 0 {
                lossSum += rowLoss[i]
                scored += 1
            }
            guard computesGradient else { continue }
            let dNormed = MatrixProduct.product(logits, head)                     // [C, D]
            let (dSlice, dGain) = RMSNormLayer.backward(dNormed, input: slice, gain: w, inverseRMS: inverseRMS)
            dh.storage.replaceSubrange((r0 * d)..<((r0 + rows) * d), with: dSlice.storage)
            for i in 0..<d { dw[i] += dGain[i] }
        }
        return (lossSum, scored, dh, dw)
    }

    /// Logits `[T, V]` of `h` `[T, D]` (final norm, then head), for evaluation and tests: this
    /// does materialise `[T, V]`.
    public static func logits<S: TrainingScalar>(hidden h: TrainingMatrix<S>, normGain w: [S], epsilon: S,
                                                 head: TrainingMatrix<S>) -> TrainingMatrix<S> {
        MatrixProduct.product(RMSNormLayer.forward(h, gain: w, epsilon: epsilon).output, head, transposeB: true)
    }
}
