import TensorCore

/// The element types a safetensors header may name, as spelled in its `dtype` field.
///
/// Every type here is recognised, so a file holding, say, an `I64` buffer opens and its float
/// tensors decode; only asking for the `I64` tensor's values fails (with
/// `SafetensorsError.unsupportedDType`). Sub-byte types (`F4`, `F6_*`) are not recognised.
public enum SafetensorsDType: String, Sendable, CaseIterable, Equatable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
    case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8"
    case bool = "BOOL"

    /// Bytes per element.
    public var elementSize: Int {
        switch self {
        case .f64, .i64, .u64: return 8
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .f8e4m3, .f8e5m2, .i8, .u8, .bool: return 1
        }
    }

    /// The matching `DType` for the types that decode to `Float` (F32, F16, BF16, F64), else nil.
    public var floatDType: DType? {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .f64: return .f64
        default: return nil
        }
    }

    /// The safetensors spelling of a float `DType`, or nil for quantized GGUF types.
    public init?(_ dtype: DType) {
        switch dtype {
        case .f32: self = .f32
        case .f16: self = .f16
        case .bf16: self = .bf16
        case .f64: self = .f64
        default: return nil
        }
    }
}
