import TensorCore

/// Numerically stable softmax: `y[j] = e^(x[j] − m) / Σₖ e^(x[k] − m)` with `m = maxₖ x[k]`,
/// so no exponent overflows and the largest term is exactly 1.
///
/// Exponentials use `VectorMath.exp` (≤ 2 ulp); the sum is accumulated in Float over 16 lanes
/// (relative error about `log₂(n)·2⁻²⁴`). Entries equal to `-∞` (masked) become exactly 0; a row
/// that is entirely `-∞` becomes all zeros rather than NaN.
public enum SoftmaxKernel {
    /// The largest of `count > 0` values (`-∞` if all are), vectorised by masked replace
    /// (`pointwiseMax` on SIMD16 compiles to scalar code).
    public static func maximum(_ row: UnsafePointer<Float>, count: Int) -> Float {
        let width = VectorMath.width
        let body = count - count % width
        var lanes = VectorMath.Vector(repeating: -.infinity)
        var i = 0
        while i < body {
            let v = VectorMath.load(row + i)
            lanes.replace(with: v, where: v .> lanes)
            i += width
        }
        var m = lanes.max()
        for j in body..<count { m = Swift.max(m, row[j]) }
        return m
    }

    /// Softmax of one row of `count` values, in place.
    public static func applyRow(_ row: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        typealias V = VectorMath.Vector
        let width = VectorMath.width
        let body = count - count % width
        let tail = count - body

        let m = maximum(row, count: count)
        guard m > -.infinity else {
            row.update(repeating: 0, count: count)
            return
        }

        var sumLanes = V()
        var i = 0
        while i < body {
            let e = VectorMath.exp(VectorMath.load(row + i) - m)
            sumLanes += e
            VectorMath.store(e, row + i)
            i += width
        }
        if tail > 0 {
            // Padding −∞ gives e = 0 in the unused lanes.
            let e = VectorMath.exp(VectorMath.load(row + body, count: tail, padding: -.infinity) - m)
            sumLanes += e
            VectorMath.store(e, row + body, count: tail)
        }
        let inverse = 1 / sumLanes.sum()
        i = 0
        while i < body {
            VectorMath.store(VectorMath.load(row + i) * inverse, row + i)
            i += width
        }
        for j in body..<count { row[j] *= inverse }
    }

    /// Softmax of each of `rows` rows of `columns` values (`[rows, columns]`, contiguous), in place.
    public static func apply(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        for r in 0..<rows { applyRow(x + r * columns, count: columns) }
    }

    /// Row-wise softmax of `x` (`[rows, columns]`); returns `[rows, columns]`.
    public static func apply(_ x: Matrix) -> Matrix {
        var y = x
        y.storage.withUnsafeMutableBufferPointer { yb in
            guard let yp = yb.baseAddress else { return }
            apply(yp, rows: x.rows, columns: x.columns)
        }
        return y
    }
}
