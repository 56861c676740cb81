import Foundation
import TensorCore

/// The two ways a head's `d` values are paired for rotation.
public enum RotaryConvention: String, Sendable, Equatable, Codable {
    /// Adjacent pairs `(x[2i], x[2i+1])` rotate by angle `p·ωᵢ` (GGUF `llama`, Meta's original
    /// code). GGUF stores q/k rows permuted for this convention.
    case interleaved
    /// Pairs `(x[i], x[i + d/2])` rotate by `p·ωᵢ` (GPT-NeoX, Hugging Face `rotate_half`, GGUF
    /// `qwen2`).
    case halfSplit
}

/// Rotary position embedding (Su et al. 2021, RoFormer) with precomputed cos/sin tables.
///
/// For a head vector of `d = headDimension` values at position `p`, pair `i < d/2` holding
/// `(a, b)` becomes `(a·cos(p·ωᵢ) − b·sin(p·ωᵢ), a·sin(p·ωᵢ) + b·cos(p·ωᵢ))`, with
/// `ωᵢ = base^(−2i/d)`, rescaled by `scaling`. Which two values form pair `i` is the
/// `RotaryConvention`.
///
/// Angles are computed in Double and rounded once into the Float tables, so the tables are
/// exact to half an ulp; transformers computes `p·ωᵢ` in float32 and so differs from these
/// tables by up to about `p·2⁻²⁴` radians at high frequencies (noise-level, not a convention).
public struct RotaryEmbedding: Sendable {
    /// A rotary configuration value out of range.
    public enum ConfigurationError: Error, Equatable, CustomStringConvertible {
        /// `parameter` had `value`; `expected` describes the valid values.
        case invalid(_ parameter: String, _ value: String, _ expected: String)

        public var description: String {
            switch self {
            case let .invalid(parameter, value, expected):
                return "rotary embedding: \(parameter) is \(value), expected \(expected); check the model's RoPE settings"
            }
        }
    }

    /// Frequency base `θ` (`rope_theta`).
    public let base: Double
    /// Values per head `d`, even.
    public let headDimension: Int
    /// Number of positions in the tables; positions `0 ..< maxPositions` can be rotated.
    public let maxPositions: Int
    /// Frequency rescaling.
    public let scaling: RotaryScaling
    /// The scaled inverse frequencies `ωᵢ`. `[headDimension / 2]`
    public let inverseFrequencies: [Double]
    /// `cos(p·ωᵢ)`. `[maxPositions, headDimension / 2]`
    let cosines: [Float]
    /// `sin(p·ωᵢ)`. `[maxPositions, headDimension / 2]`
    let sines: [Float]

    /// Builds the tables; throws if `base`, `headDimension`, `maxPositions` or the scaling
    /// parameters are out of range.
    public init(base: Double, headDimension: Int, maxPositions: Int,
                scaling: RotaryScaling = .none) throws(ConfigurationError) {
        guard base > 1, base.isFinite else { throw .invalid("base (rope_theta)", "\(base)", "a finite number > 1") }
        guard headDimension > 0, headDimension % 2 == 0 else {
            throw .invalid("head dimension", "\(headDimension)", "a positive even number")
        }
        guard maxPositions > 0 else { throw .invalid("maximum positions", "\(maxPositions)", "a positive integer") }
        try scaling.validate()
        if case .frequencyFactors(let factors) = scaling, factors.count != headDimension / 2 {
            throw .invalid("rope frequency factors", "\(factors.count) values", "one per rotated pair (\(headDimension / 2))")
        }
        self.base = base
        self.headDimension = headDimension
        self.maxPositions = maxPositions
        self.scaling = scaling
        let half = headDimension / 2
        let unscaled = (0..<half).map { i in 1 / pow(base, Double(2 * i) / Double(headDimension)) }
        inverseFrequencies = scaling.apply(to: unscaled)
        var cosines = [Float](repeating: 0, count: maxPositions * half)
        var sines = [Float](repeating: 0, count: maxPositions * half)
        for p in 0..<maxPositions {
            for i in 0..<half {
                let angle = Double(p) * inverseFrequencies[i]
                cosines[p * half + i] = Float(cos(angle))
                sines[p * half + i] = Float(sin(angle))
            }
        }
        self.cosines = cosines
        self.sines = sines
    }

    /// Rotates, in place, every head of `tokens` rows at positions `startPosition ..<
    /// startPosition + tokens`.
    ///
    /// - Parameters:
    ///   - x: `[tokens, rowStride]`; row `t` holds `headCount` heads of `headDimension` values
    ///     from its start (`rowStride ≥ headCount·headDimension`, default equal, so fused QKV
    ///     buffers can be rotated in place).
    ///   - startPosition: position of row 0; `startPosition + tokens ≤ maxPositions`.
    public func apply(to x: UnsafeMutablePointer<Float>, tokens: Int, headCount: Int,
                      rowStride: Int? = nil, startPosition: Int, convention: RotaryConvention) {
        let d = headDimension
        let half = d / 2
        let stride = rowStride ?? headCount * d
        precondition(stride >= headCount * d, "RoPE: row stride \(stride) < \(headCount) heads × \(d)")
        precondition(startPosition >= 0 && startPosition + tokens <= maxPositions,
                     "RoPE: positions \(startPosition)..<\(startPosition + tokens) exceed the table (\(maxPositions))")
        cosines.withUnsafeBufferPointer { cb in
            sines.withUnsafeBufferPointer { sb in
                guard let cosBase = cb.baseAddress, let sinBase = sb.baseAddress else { return }
                for t in 0..<tokens {
                    let c = cosBase + (startPosition + t) * half
                    let s = sinBase + (startPosition + t) * half
                    for h in 0..<headCount {
                        let v = x + t * stride + h * d
                        switch convention {
                        case .interleaved:
                            for i in 0..<half {
                                let a = v[2 * i], b = v[2 * i + 1]
                                v[2 * i] = a * c[i] - b * s[i]
                                v[2 * i + 1] = a * s[i] + b * c[i]
                            }
                        case .halfSplit:
                            for i in 0..<half {
                                let a = v[i], b = v[i + half]
                                v[i] = a * c[i] - b * s[i]
                                v[i + half] = a * s[i] + b * c[i]
                            }
                        }
                    }
                }
            }
        }
    }

    /// Rotates every head of `x` (`[T, headCount·headDimension]`) in place, row `t` at position
    /// `startPosition + t`.
    public func apply(to x: inout Matrix, headCount: Int, startPosition: Int, convention: RotaryConvention) {
        precondition(x.columns == headCount * headDimension,
                     "RoPE: rows have \(x.columns) values, expected \(headCount) × \(headDimension)")
        let tokens = x.rows
        x.storage.withUnsafeMutableBufferPointer { xb in
            guard let xp = xb.baseAddress else { return }
            apply(to: xp, tokens: tokens, headCount: headCount, startPosition: startPosition, convention: convention)
        }
    }
}
