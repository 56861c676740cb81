import TensorCore

/// How a linear layer's weights are held for products: float values (``SparseValueType``) or
/// values on a quantized grid with per-32-column scales (``QuantizedType``). What `dlp generate
/// --dtype` and `dlp bench … --dtype` name.
public enum WeightType: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case f32
    case f16
    case bf16
    case q8_0
    case q4_0

    public init(_ type: SparseValueType) { self = WeightType(rawValue: type.rawValue)! }
    public init(_ type: QuantizedType) { self = WeightType(rawValue: type.rawValue)! }

    /// The float value type, nil for a quantized one.
    public var floatType: SparseValueType? { SparseValueType(rawValue: rawValue) }
    /// The quantized grid, nil for a float type.
    public var quantizedType: QuantizedType? { QuantizedType(rawValue: rawValue) }

    /// Bits per weight of a dense matrix of this type (Q8_0: 34 bytes per 32, Q4_0: 18).
    public var denseBitsPerWeight: Double {
        switch self {
        case .f32: return 32
        case .f16, .bf16: return 16
        case .q8_0: return 8.5
        case .q4_0: return 4.5
        }
    }

    /// Parses a CLI value, listing the valid ones.
    public static func parse(_ text: String) throws -> WeightType {
        guard let value = WeightType(rawValue: text.lowercased()) else {
            throw SparseFormatError.invalidSetting(name: "weight type", value: text,
                                                   valid: allCases.map(\.rawValue).joined(separator: ", "))
        }
        return value
    }

    public var description: String { rawValue }
}
