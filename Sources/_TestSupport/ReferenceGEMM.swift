import TensorCore

extension Reference {
    /// `Y[t, j] = Σᵢ X[t, i]·W[j, i] + bias[j]` (plus `Y₀[t, j]` when given), in Double.
    /// `x` `[T, in]`, `weight` `[out, in]`, `bias` `[out]`, `initial` `[T, out]`; returns `[T·out]`.
    public static func linear(_ x: Matrix, weight: Matrix, bias: [Float]? = nil, initial: Matrix? = nil) -> [Double] {
        var y = [Double](repeating: 0, count: x.rows * weight.rows)
        for t in 0..<x.rows {
            for j in 0..<weight.rows {
                var sum = Double(bias?[j] ?? 0) + Double(initial?[t, j] ?? 0)
                for i in 0..<x.columns { sum += Double(x[t, i]) * Double(weight[j, i]) }
                y[t * weight.rows + j] = sum
            }
        }
        return y
    }

    /// `C[r, c] = Σₖ A[r, k]·B[k, c]`, in Double. `a` `[m, k]`, `b` `[k, n]`; returns `[m·n]`.
    public static func multiply(_ a: Matrix, _ b: Matrix) -> [Double] {
        var c = [Double](repeating: 0, count: a.rows * b.columns)
        for r in 0..<a.rows {
            for col in 0..<b.columns {
                var sum = 0.0
                for k in 0..<a.columns { sum += Double(a[r, k]) * Double(b[k, col]) }
                c[r * b.columns + col] = sum
            }
        }
        return c
    }

    /// `H[i, j] = α·Σₜ X[t, i]·X[t, j] + β·H₀[i, j]`, in Double. `x` `[T, D]`, `h` `[D, D]`.
    public static func gram(_ x: Matrix, initial h: Matrix, alpha: Double, beta: Double) -> [Double] {
        let d = x.columns
        var out = [Double](repeating: 0, count: d * d)
        for i in 0..<d {
            for j in 0..<d {
                var sum = 0.0
                for t in 0..<x.rows { sum += Double(x[t, i]) * Double(x[t, j]) }
                out[i * d + j] = alpha * sum + beta * Double(h[i, j])
            }
        }
        return out
    }

    /// The elementwise absolute value, for error scales `Σ|x|·|w|` of a product.
    public static func absolute(_ m: Matrix) -> Matrix {
        Matrix(rows: m.rows, columns: m.columns, storage: m.storage.map { abs($0) })
    }
}
