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

extension Reference {
    /// Causal grouped-query attention in Double, straight from the definition:
    /// `context[t, h] = Σ_{s ≤ t} softmax_s(q[t,h]·k[s,g]/√d) v[s,g]`, `g = h / (H/K)`.
    /// q `[T, H·d]`, k and v `[T, K·d]`; returns `[T, H·d]`.
    public static func causalAttention(q: [Float], k: [Float], v: [Float], tokens t: Int, heads: Int,
                                       keyValueHeads: Int, headDimension d: Int) -> [Double] {
        var out = [Double](repeating: 0, count: t * heads * d)
        let group = heads / keyValueHeads
        for h in 0..<heads {
            let g = h / group
            for i in 0..<t {
                var logits = [Double](repeating: 0, count: i + 1)
                for s in 0...i {
                    var dot = 0.0
                    for j in 0..<d { dot += Double(q[i * heads * d + h * d + j]) * Double(k[s * keyValueHeads * d + g * d + j]) }
                    logits[s] = dot / Double(d).squareRoot()
                }
                let m = logits.max() ?? 0
                let e = logits.map { exp($0 - m) }
                let sum = e.reduce(0, +)
                for s in 0...i {
                    for j in 0..<d { out[i * heads * d + h * d + j] += e[s] / sum * Double(v[s * keyValueHeads * d + g * d + j]) }
                }
            }
        }
        return out
    }
}
