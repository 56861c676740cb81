import Foundation
import TensorCore

extension Reference {
    /// RMSNorm per row, in Double: `x / sqrt(mean(x²) + ε) · (weight + offset)`. Returns `[T·D]`.
    public static func rmsNorm(_ x: Matrix, weight: [Float], weightOffset: Double = 0, epsilon: Double) -> [Double] {
        var y = [Double](repeating: 0, count: x.count)
        for r in 0..<x.rows {
            var squares = 0.0
            for c in 0..<x.columns { squares += Double(x[r, c]) * Double(x[r, c]) }
            let scale = 1 / sqrt(squares / Double(x.columns) + epsilon)
            for c in 0..<x.columns {
                y[r * x.columns + c] = Double(x[r, c]) * scale * (Double(weight[c]) + weightOffset)
            }
        }
        return y
    }

    /// Softmax of `values` in Double: `e^(xⱼ) / Σₖ e^(xₖ)` (shifted by the maximum).
    public static func softmax(_ values: [Float]) -> [Double] {
        let m = Double(values.max() ?? 0)
        let e = values.map { exp(Double($0) - m) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }

    /// `log Σ e^x` in Double, max-subtracted.
    public static func logSumExp(_ values: [Float]) -> Double {
        let m = Double(values.max() ?? 0)
        return m + log(values.reduce(0.0) { $0 + exp(Double($1) - m) })
    }

    /// `x·σ(x) = x / (1 + e^(−x))`, in Double.
    public static func silu(_ x: Float) -> Double {
        let v = Double(x)
        return v / (1 + exp(-v))
    }

    /// `silu(gate)·up`, in Double.
    public static func swiGLU(gate: Float, up: Float) -> Double { silu(gate) * Double(up) }
}
