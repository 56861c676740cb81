import Foundation
import TensorCore

extension Reference {
    /// RoPE frequency scaling, restated for the reference: `linear` divides by the factor,
    /// `llama3` follows transformers' `_compute_llama3_parameters` written out as conditions.
    public enum RoPEScaling: Sendable {
        case none
        case linear(Double)
        case llama3(factor: Double, low: Double, high: Double, original: Double)
    }

    /// Inverse frequency of pair `i` for head size `d`: `base^(−2i/d)`, then scaled.
    public static func ropeInverseFrequency(_ i: Int, headDimension d: Int, base: Double,
                                            scaling: RoPEScaling = .none) -> Double {
        let omega = pow(base, -2 * Double(i) / Double(d))
        switch scaling {
        case .none:
            return omega
        case .linear(let factor):
            return omega / factor
        case let .llama3(factor, low, high, original):
            let wavelength = 2 * Double.pi / omega
            if wavelength > original / low { return omega / factor }
            if wavelength < original / high { return omega }
            let s = (original / wavelength - low) / (high - low)
            return (1 - s) * omega / factor + s * omega
        }
    }

    /// RoPE by the direct formula, in Double: every head of row `t` of `x` (`[T, heads·d]`)
    /// rotated by angles `(p₀ + t)·ωᵢ`. `interleaved` pairs `(2i, 2i+1)`; otherwise `(i, i+d/2)`.
    public static func rope(_ x: Matrix, headCount: Int, headDimension d: Int, base: Double,
                            scaling: RoPEScaling = .none, startPosition: Int, interleaved: Bool) -> [Double] {
        var y = x.storage.map(Double.init)
        for t in 0..<x.rows {
            for h in 0..<headCount {
                for i in 0..<(d / 2) {
                    let angle = Double(startPosition + t) * ropeInverseFrequency(i, headDimension: d, base: base,
                                                                                 scaling: scaling)
                    let first = t * x.columns + h * d + (interleaved ? 2 * i : i)
                    let second = interleaved ? first + 1 : first + d / 2
                    let a = y[first], b = y[second]
                    y[first] = a * cos(angle) - b * sin(angle)
                    y[second] = a * sin(angle) + b * cos(angle)
                }
            }
        }
        return y
    }

    /// The row order GGUF's llama converter gives q/k weights: within each head of `d` rows,
    /// `w.reshape(heads, 2, d/2, in).swapaxes(1, 2).reshape(heads·d, in)`, so GGUF row
    /// `h·d + 2j + s` is Hugging Face row `h·d + s·d/2 + j`. Returns, for each GGUF row, its
    /// Hugging Face row.
    public static func ggufQKRowSource(headCount: Int, headDimension d: Int) -> [Int] {
        var source = [Int](repeating: 0, count: headCount * d)
        for h in 0..<headCount {
            for j in 0..<(d / 2) {
                for s in 0..<2 { source[h * d + 2 * j + s] = h * d + s * (d / 2) + j }
            }
        }
        return source
    }

    /// Reorders the columns of `m` (`[rows, n]`): output column `c` is input column `source[c]`.
    public static func permuteColumns(_ m: Matrix, source: [Int]) -> Matrix {
        var out = Matrix(rows: m.rows, columns: m.columns)
        for r in 0..<m.rows { for c in 0..<m.columns { out[r, c] = m[r, source[c]] } }
        return out
    }

    /// Reorders the rows of `m` (`[n, columns]`): output row `r` is input row `source[r]`.
    public static func permuteRows(_ m: Matrix, source: [Int]) -> Matrix {
        var out = Matrix(rows: m.rows, columns: m.columns)
        for r in 0..<m.rows { for c in 0..<m.columns { out[r, c] = m[source[r], c] } }
        return out
    }
}
