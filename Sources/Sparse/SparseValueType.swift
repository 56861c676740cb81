import TensorCore

/// How the non-zeros of a ``SparseMatrix`` are stored. A closed set: a new type (int8 with group
/// scales) is a new case with its kernels.
///
/// Exactness: `f32` holds any `Float` weight exactly. `f16` and `bf16` round to nearest even; they
/// are exact only for weights that already are `f16` / `bf16` values (a checkpoint stored in that
/// type), not in general for weights decoded from quantized GGUF types (Q4_1's `d·q + m` needs
/// more mantissa bits). A weight that rounds to ±0 is still stored (its mask bit stays set), so
/// the mask is the pruning mask whatever the value type.
public enum SparseValueType: String, Sendable, Codable, CaseIterable {
    case f32
    case f16
    case bf16

    /// Bytes per stored value.
    public var size: Int { self == .f32 ? 4 : 2 }

    /// The kernels' type code.
    var code: Int32 {
        switch self {
        case .f32: return 0
        case .f16: return 1
        case .bf16: return 2
        }
    }

    /// `value` as this type would store it, back in `Float`.
    @inlinable public func rounded(_ value: Float) -> Float {
        switch self {
        case .f32: return value
        case .f16: return HalfConversion.float(fromHalf: HalfConversion.half(from: value))
        case .bf16: return HalfConversion.float(fromBFloat16: HalfConversion.bfloat16(from: value))
        }
    }

    /// Parses a CLI value, listing the valid ones.
    public static func parse(_ text: String) throws -> SparseValueType {
        guard let value = SparseValueType(rawValue: text.lowercased()) else {
            throw SparseFormatError.invalidSetting(name: "value type", value: text,
                                                   valid: allCases.map(\.rawValue).joined(separator: ", "))
        }
        return value
    }
}
