import TensorCore

/// Root-mean-square normalisation, per row (Zhang & Sennrich 2019; LLaMA's `RMSNorm`):
///
///     y[t, i] = x[t, i] / sqrt(mean_i(x[t, i]²) + ε) · (weight[i] + offset)
///
/// `offset` is 0 for LLaMA/Qwen2 and 1 for Gemma (which stores `weight − 1`).
///
/// Precision: the sum of squares is accumulated in Float over 16 independent lanes and then
/// reduced, like the float32 `pow(2).mean()` of transformers; its relative error is about
/// `log₂(D)·2⁻²⁴` (below 1e-6 for the hidden sizes here), so no Double accumulator is needed.
public enum RMSNormKernel {
    /// Normalises `rows` rows of `columns` values. `x` and `y` are `[rows, columns]` with
    /// contiguous rows and may be the same buffer (in place); `weight` is `[columns]`.
    public static func apply(
        input x: UnsafePointer<Float>, rows: Int, columns: Int,
        weight: UnsafePointer<Float>, weightOffset: Float = 0, epsilon: Float,
        output y: UnsafeMutablePointer<Float>
    ) {
        precondition(rows >= 0 && columns > 0, "RMSNorm needs a positive row length")
        typealias V = VectorMath.Vector
        let width = VectorMath.width
        let body = columns - columns % width
        let tail = columns - body
        for r in 0..<rows {
            let xr = x + r * columns
            let yr = y + r * columns
            var lanes = V()
            var i = 0
            while i < body {
                let v = VectorMath.load(xr + i)
                lanes += v * v
                i += width
            }
            if tail > 0 {
                let v = VectorMath.load(xr + body, count: tail)
                lanes += v * v
            }
            let meanSquare = lanes.sum() / Float(columns)
            let scale = 1 / (meanSquare + epsilon).squareRoot()
            i = 0
            while i < body {
                let w = VectorMath.load(weight + i) + weightOffset
                VectorMath.store(VectorMath.load(xr + i) * scale * w, yr + i)
                i += width
            }
            if tail > 0 {
                let w = VectorMath.load(weight + body, count: tail) + weightOffset
                VectorMath.store(VectorMath.load(xr + body, count: tail) * scale * w, yr + body, count: tail)
            }
        }
    }

    /// RMSNorm of every row of `x` (`[T, D]`) with `weight` `[D]`; returns `[T, D]`.
    public static func apply(_ x: Matrix, weight: [Float], weightOffset: Float = 0, epsilon: Float) -> Matrix {
        precondition(weight.count == x.columns, "RMSNorm: weight has \(weight.count) values, rows have \(x.columns)")
        var y = Matrix(rows: x.rows, columns: x.columns)
        guard x.count > 0 else { return y }
        x.storage.withUnsafeBufferPointer { xb in
            weight.withUnsafeBufferPointer { wb in
                y.storage.withUnsafeMutableBufferPointer { yb in
                    guard let xp = xb.baseAddress, let wp = wb.baseAddress, let yp = yb.baseAddress else { return }
                    apply(input: xp, rows: x.rows, columns: x.columns, weight: wp,
                          weightOffset: weightOffset, epsilon: epsilon, output: yp)
                }
            }
        }
        return y
    }
}
