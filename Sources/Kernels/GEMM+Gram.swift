import COpenBLAS
import TensorCore

extension GEMM {
    /// Gram update `H = α · XᵀX + β · H` through OpenBLAS `ssyrk`, as used to accumulate a
    /// layer-input Hessian (`H += Xᵀ X` per calibration batch; the caller states the
    /// normalisation through `alpha`, e.g. `2 / samples`).
    ///
    /// - Parameters:
    ///   - x: `[rows, columns]`, contiguous rows (rows are tokens, columns features).
    ///   - h: `[columns, columns]`, contiguous rows.
    ///   - mirror: `ssyrk` writes only the upper triangle; when true the upper triangle is then
    ///     copied into the lower one so `h` is the full symmetric matrix. Pass false when making
    ///     several updates in a row and call `mirrorUpperTriangle` once at the end (the lower
    ///     triangle is stale until then).
    public static func gramUpdate(
        _ x: UnsafePointer<Float>, rows: Int, columns: Int,
        alpha: Float = 1, beta: Float = 1,
        into h: UnsafeMutablePointer<Float>, mirror: Bool = true
    ) {
        precondition(rows >= 0 && columns >= 0, "negative Gram dimension")
        guard columns > 0 else { return }
        if rows > 0 {
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(columns), Int32(rows),
                        alpha, x, Int32(columns), beta, h, Int32(columns))
        } else {
            for i in 0..<columns { scale(h + i * columns + i, count: columns - i, by: beta) }
        }
        if mirror { mirrorUpperTriangle(h, size: columns) }
    }

    /// Copies the upper triangle of the `[size, size]` matrix `h` onto its lower triangle.
    public static func mirrorUpperTriangle(_ h: UnsafeMutablePointer<Float>, size: Int) {
        for i in 0..<size {
            for j in 0..<i { h[i * size + j] = h[j * size + i] }
        }
    }

    /// `H = α · XᵀX + β · H` on matrices: `x` is `[T, D]`, `h` is `[D, D]` and ends up fully
    /// symmetric.
    public static func gramUpdate(_ x: Matrix, into h: inout Matrix, alpha: Float = 1, beta: Float = 1) {
        precondition(h.rows == x.columns && h.columns == x.columns,
                     "gramUpdate: H is [\(h.rows), \(h.columns)], expected [\(x.columns), \(x.columns)]")
        let (rows, columns) = (x.rows, x.columns)
        guard columns > 0 else { return }
        x.storage.withUnsafeBufferPointer { xb in
            h.storage.withUnsafeMutableBufferPointer { hb in
                guard let hp = hb.baseAddress else { return }
                if let xp = xb.baseAddress {
                    gramUpdate(xp, rows: rows, columns: columns, alpha: alpha, beta: beta, into: hp)
                } else {
                    scale(hp, count: columns * columns, by: beta)
                }
            }
        }
    }
}
