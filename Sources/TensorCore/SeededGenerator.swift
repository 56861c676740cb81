/// A small, fast, seeded random number generator (SplitMix64), so every random choice of a run
/// is reproducible from its seed. Passed explicitly; there is no global generator.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose sequence is fully determined by `seed`.
    public init(seed: UInt64) { state = seed }

    /// Next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform Float in [-1, 1).
    public mutating func nextSignedUnit() -> Float {
        Float(next() >> 40) / Float(1 << 24) * 2 - 1
    }

    /// `count` uniform values in [-scale, scale).
    public mutating func uniform(count: Int, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in nextSignedUnit() * scale }
    }
}
