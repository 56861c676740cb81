import Foundation
import Kernels

/// Rotary position embedding and its backward pass, in the training precision.
///
/// Pair `i` of a head at position `p`, holding `(a, b)`, becomes
/// `(a·cos θ − b·sin θ, a·sin θ + b·cos θ)` with `θ = p·ωᵢ`; which two values form pair `i` is the
/// `RotaryConvention` (`interleaved`: `(2i, 2i+1)`, `halfSplit`: `(i, i + d/2)`), as in
/// `Kernels.RotaryEmbedding`. A rotation is orthogonal, so the backward pass is the inverse
/// rotation, by `−θ`: `dx = Rᵀ dy`.
///
/// The tables use `Kernels.RotaryEmbedding`'s inverse frequencies (scaling included), with each
/// angle in Double rounded once to the scalar type: for Float these are the forward pass's tables.
public struct RotaryLayer<Scalar: TrainingScalar>: Sendable {
    /// Values per head `d`.
    public let headDimension: Int
    /// Rows of the tables: positions `0..<maxPositions`.
    public let maxPositions: Int
    /// Which values pair up.
    public let convention: RotaryConvention
    let cosines: [Scalar]   // [maxPositions, d/2]
    let sines: [Scalar]     // [maxPositions, d/2]

    /// Tables for the frequencies of `rotary` (positions `0..<rotary.maxPositions`).
    public init(_ rotary: RotaryEmbedding, convention: RotaryConvention) {
        headDimension = rotary.headDimension
        maxPositions = rotary.maxPositions
        self.convention = convention
        let half = headDimension / 2
        var cosines = [Scalar](repeating: 0, count: maxPositions * half), sines = cosines
        for p in 0..<maxPositions {
            for i in 0..<half {
                let angle = Double(p) * rotary.inverseFrequencies[i]
                cosines[p * half + i] = Scalar(cos(angle))
                sines[p * half + i] = Scalar(sin(angle))
            }
        }
        self.cosines = cosines
        self.sines = sines
    }

    /// Rotates every head of `x` (`[T, heads·d]`, row `t` at position `t`) in place.
    public func forward(_ x: inout TrainingMatrix<Scalar>) { rotate(&x, sign: 1) }

    /// `dx = Rᵀ dy` in place: every head of `dy` (`[T, heads·d]`) rotated back.
    public func backward(_ dy: inout TrainingMatrix<Scalar>) { rotate(&dy, sign: -1) }

    private func rotate(_ x: inout TrainingMatrix<Scalar>, sign: Scalar) {
        let d = headDimension, half = d / 2
        precondition(x.columns % d == 0, "RoPE: rows of \(x.columns) values are not whole heads of \(d)")
        precondition(x.rows <= maxPositions, "RoPE: \(x.rows) positions, tables hold \(maxPositions)")
        let heads = x.columns / d
        for t in 0..<x.rows {
            for h in 0..<heads {
                let base = t * x.columns + h * d
                for i in 0..<half {
                    let c = cosines[t * half + i], s = sign * sines[t * half + i]
                    let (first, second) = convention == .interleaved ? (base + 2 * i, base + 2 * i + 1) : (base + i, base + i + half)
                    let a = x.storage[first], b = x.storage[second]
                    x.storage[first] = a * c - b * s
                    x.storage[second] = a * s + b * c
                }
            }
        }
    }
}
