/// RMSNorm with its backward pass, per row of `x` `[T, D]`:
///
///     r[t]    = 1 / sqrt(mean_i x[t, i]² + ε)
///     n[t, i] = x[t, i] · r[t]
///     y[t, i] = n[t, i] · w[i]
///
/// Backward, for `dy` `[T, D]`:
///
///     dx[t, i] = r[t] · (w[i]·dy[t, i] − n[t, i] · mean_j(n[t, j]·w[j]·dy[t, j]))
///     dw[i]    = Σ_t dy[t, i] · n[t, i]
///
/// Same forward as `Kernels.RMSNormKernel` (gain offset 0, LLaMA and Qwen2), summed in a plain
/// loop in the training precision.
public enum RMSNormLayer {
    /// `y` `[T, D]` and the per-row inverse RMS `r` `[T]` the backward pass needs.
    public static func forward<S: TrainingScalar>(_ x: TrainingMatrix<S>, gain w: [S], epsilon: S)
        -> (output: TrainingMatrix<S>, inverseRMS: [S]) {
        let d = x.columns
        precondition(w.count == d, "RMSNorm: gain has \(w.count) values, rows have \(d)")
        var y = TrainingMatrix<S>(rows: x.rows, columns: d)
        var inverseRMS = [S](repeating: 0, count: x.rows)
        x.storage.withUnsafeBufferPointer { xb in
        w.withUnsafeBufferPointer { wb in
        y.storage.withUnsafeMutableBufferPointer { yb in
        inverseRMS.withUnsafeMutableBufferPointer { rb in
            guard let xp = xb.baseAddress, let wp = wb.baseAddress, let yp = yb.baseAddress, let rp = rb.baseAddress else { return }
            let (x, w, y, inverseRMS) = (SharedPointer(xp), SharedPointer(wp), SharedPointer(yp), SharedPointer(rp))
            TrainingParallel.forEach(rb.count, cost: 3 * yb.count) { rows in
                for t in rows {
                    var sum: S = 0
                    for i in 0..<d { sum += x[t * d + i] * x[t * d + i] }
                    let r = 1 / (sum / S(d) + epsilon).squareRoot()
                    inverseRMS[t] = r
                    for i in 0..<d { y[t * d + i] = x[t * d + i] * r * w[i] }
                }
            }
        }}}}
        return (y, inverseRMS)
    }

    /// `dx` `[T, D]` and `dw` `[D]` for `dy` `[T, D]`.
    public static func backward<S: TrainingScalar>(_ dy: TrainingMatrix<S>, input x: TrainingMatrix<S>, gain w: [S],
                                                   inverseRMS: [S]) -> (input: TrainingMatrix<S>, gain: [S]) {
        let d = x.columns
        precondition(dy.rows == x.rows && dy.columns == d && inverseRMS.count == x.rows, "RMSNorm backward: shapes differ")
        var dx = TrainingMatrix<S>(rows: x.rows, columns: d)
        var dw = [S](repeating: 0, count: d)
        x.storage.withUnsafeBufferPointer { xb in
        dy.storage.withUnsafeBufferPointer { dyb in
        w.withUnsafeBufferPointer { wb in
        inverseRMS.withUnsafeBufferPointer { rb in
        dx.storage.withUnsafeMutableBufferPointer { dxb in
            guard let xp = xb.baseAddress, let dyp = dyb.baseAddress, let wp = wb.baseAddress, let rp = rb.baseAddress,
                  let dxp = dxb.baseAddress else { return }
            let (x, dy, w, inverseRMS, dx) = (SharedPointer(xp), SharedPointer(dyp), SharedPointer(wp), SharedPointer(rp), SharedPointer(dxp))
            TrainingParallel.forEach(rb.count, cost: 6 * dxb.count) { rows in
                for t in rows {
                    let r = inverseRMS[t], row = t * d
                    var mean: S = 0
                    for i in 0..<d { mean += x[row + i] * r * w[i] * dy[row + i] }
                    mean /= S(d)
                    for i in 0..<d { dx[row + i] = r * (w[i] * dy[row + i] - x[row + i] * r * mean) }
                }
            }
            // dw sums over the rows: in row order, on this thread.
            for t in 0..<rb.count {
                let r = inverseRMS[t], row = t * d
                for i in 0..<d { dw[i] += dy[row + i] * (x[row + i] * r) }
            }
        }}}}}
        return (dx, dw)
    }
}
