import COpenBLAS
import TensorCore

extension GEMM {
    /// Gram update `H = α · XᵀX + β · H` by tiles of `sgemm` (the upper triangle), as used to accumulate a
    /// layer-input Hessian (`H += Xᵀ X` per calibration batch; the caller states the
    /// normalisation through `alpha`, e.g. `2 / samples`).
    ///
    /// - Parameters:
    ///   - x: `[rows, columns]`, contiguous rows (rows are tokens, columns features).
    ///   - h: `[columns, columns]`, contiguous rows.
    ///   - mirror: the tiles cover the upper triangle (a diagonal tile's lower half too, which is
    ///     not kept); when true the upper triangle is then
    ///     copied into the lower one so `h` is the full symmetric matrix. Pass false when making
    ///     several updates in a row and call `mirrorUpperTriangle` once at the end (the lower
    ///     triangle is stale until then).
    ///   - threads: the tiles' threads (the result does not depend on them).
    public static func gramUpdate(
        _ x: UnsafePointer<Float>, rows: Int, columns: Int,
        alpha: Float = 1, beta: Float = 1,
        into h: UnsafeMutablePointer<Float>, mirror: Bool = true, threads: ComputeThreads = .single
    ) {
        precondition(rows >= 0 && columns >= 0, "negative Gram dimension")
        guard columns > 0 else { return }
        if rows > 0 {
            // Square tiles of the upper triangle (diagonal tiles whole), each one single-threaded
            // sgemm over all rows, dealt to `threads`: no bit depends on the thread count. OpenBLAS's
            // threaded `ssyrk` changed bits with its thread count on a Zen 3 (its ZEN kernels).
            let b = gramTile, blocks = (columns + b - 1) / b
            let pairs = (0..<blocks).flatMap { i in (i..<blocks).map { (i, $0) } }
            let (xa, ha) = (UInt(bitPattern: x), UInt(bitPattern: h))
            BLASRuntime.singleThreaded {
                parallelFor(0..<pairs.count, threads: threads) { range in
                    let x = UnsafePointer<Float>(bitPattern: xa)!, h = UnsafeMutablePointer<Float>(bitPattern: ha)!
                    for index in range {
                        let (i0, j0) = (pairs[index].0 * b, pairs[index].1 * b)
                        multiply(transposeA: true, transposeB: false, m: min(b, columns - i0), n: min(b, columns - j0), k: rows,
                                 alpha: alpha, a: x + i0, lda: columns, b: x + j0, ldb: columns,
                                 beta: beta, c: h + i0 * columns + j0, ldc: columns)
                    }
                }
            }
        } else {
            for i in 0..<columns { scale(h + i * columns + i, count: columns - i, by: beta) }
        }
        if mirror { mirrorUpperTriangle(h, size: columns) }
    }

    /// Columns per tile of ``gramUpdate(_:rows:columns:alpha:beta:into:mirror:threads:)``.
    static let gramTile = 128

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
