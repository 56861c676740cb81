import COpenBLAS
import TensorCore

/// Matrix–vector products through OpenBLAS `sgemv` (one token through a linear layer).
public enum GEMV {
    /// `y = W · x + bias` (or `y += W · x + bias` when `accumulate`), with `W` `[rows, columns]`
    /// row-major, `x` `[columns]`, `y` `[rows]`, `bias` `[rows]` or nil. With `transpose` the
    /// product is `y = Wᵀ · x`, `x` `[rows]`, `y` and `bias` `[columns]`. `y` must not overlap
    /// `W` or `x`.
    public static func apply(
        weight: UnsafePointer<Float>, rows: Int, columns: Int, transpose: Bool = false,
        x: UnsafePointer<Float>, bias: UnsafePointer<Float>? = nil,
        output y: UnsafeMutablePointer<Float>, accumulate: Bool = false
    ) {
        precondition(rows >= 0 && columns >= 0, "negative GEMV dimension")
        let outputCount = transpose ? columns : rows
        let inputCount = transpose ? rows : columns
        guard outputCount > 0 else { return }
        var beta: Float = accumulate ? 1 : 0
        if let bias {
            for j in 0..<outputCount { y[j] = (accumulate ? y[j] : 0) + bias[j] }
            beta = 1
        }
        guard inputCount > 0 else {
            if beta == 0 { y.update(repeating: 0, count: outputCount) }
            return
        }
        cblas_sgemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans,
                    Int32(rows), Int32(columns), 1, weight, Int32(max(1, columns)),
                    x, 1, beta, y, 1)
    }

    /// `W · x + bias` for a `[rows, columns]` matrix and a `[columns]` vector; returns `[rows]`.
    public static func apply(_ weight: Matrix, _ x: [Float], bias: [Float]? = nil) -> [Float] {
        precondition(x.count == weight.columns, "GEMV: vector has \(x.count) values, expected \(weight.columns)")
        precondition(bias.map { $0.count == weight.rows } ?? true, "GEMV: bias length mismatch")
        var y = [Float](repeating: 0, count: weight.rows)
        guard weight.rows > 0 else { return y }
        if weight.columns == 0 { return bias ?? y }
        weight.storage.withUnsafeBufferPointer { wb in
            x.withUnsafeBufferPointer { xb in
                y.withUnsafeMutableBufferPointer { yb in
                    guard let wp = wb.baseAddress, let xp = xb.baseAddress, let yp = yb.baseAddress else { return }
                    withOptionalPointer(bias) { bp in
                        apply(weight: wp, rows: weight.rows, columns: weight.columns, x: xp, bias: bp, output: yp)
                    }
                }
            }
        }
        return y
    }
}
