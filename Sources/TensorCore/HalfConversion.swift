/// IEEE binary16 and bfloat16 conversions to and from `Float`.
///
/// Half → Float and BF16 → Float are exact. Float → Half and Float → BF16 round to nearest even;
/// NaN stays NaN (quiet), infinities and signed zeros are kept.
public enum HalfConversion {
    /// Exact widening of an IEEE binary16 bit pattern.
    @inlinable public static func float(fromHalf bits: UInt16) -> Float {
        Float(Float16(bitPattern: bits))
    }

    /// Exact widening of a bfloat16 bit pattern (the high half of a Float).
    @inlinable public static func float(fromBFloat16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Round-to-nearest-even narrowing to binary16.
    @inlinable public static func half(from value: Float) -> UInt16 {
        Float16(value).bitPattern
    }

    /// Round-to-nearest-even narrowing to bfloat16.
    @inlinable public static func bfloat16(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x0040 }
        let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }
}
