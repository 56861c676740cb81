import TensorCore

extension DType {
    /// The dtype stored under ggml type id `id`, or `nil` for ids this package cannot decode.
    ///
    /// ggml ids: F32 0, F16 1, Q4_0 2, Q4_1 3, Q5_0 6, Q5_1 7, Q8_0 8, Q4_K 12, Q5_K 13, Q6_K 14,
    /// F64 28, BF16 30.
    public init?(ggmlTypeID id: UInt32) {
        switch id {
        case 0: self = .f32
        case 1: self = .f16
        case 2: self = .q4_0
        case 3: self = .q4_1
        case 6: self = .q5_0
        case 7: self = .q5_1
        case 8: self = .q8_0
        case 12: self = .q4_K
        case 13: self = .q5_K
        case 14: self = .q6_K
        case 28: self = .f64
        case 30: self = .bf16
        default: return nil
        }
    }

    /// The ggml type id under which GGUF stores this dtype.
    public var ggmlTypeID: UInt32 {
        switch self {
        case .f32: return 0
        case .f16: return 1
        case .q4_0: return 2
        case .q4_1: return 3
        case .q5_0: return 6
        case .q5_1: return 7
        case .q8_0: return 8
        case .q4_K: return 12
        case .q5_K: return 13
        case .q6_K: return 14
        case .f64: return 28
        case .bf16: return 30
        }
    }
}

/// Names of ggml type ids that exist but that this package does not decode, for error messages.
enum GGMLTypeNames {
    static func name(_ id: UInt32) -> String {
        let names: [UInt32: String] = [
            9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS",
            19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16",
            26: "I32", 27: "I64", 29: "IQ1_M", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
        ]
        if let dtype = DType(ggmlTypeID: id) { return dtype.rawValue }
        return names[id].map { "\($0) (id \(id))" } ?? "unknown id \(id)"
    }
}

/// Where and how one tensor is stored in a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// Tensor name.
    public var name: String
    /// Dimensions as GGUF lists them, fastest-varying first (`ne[0]` is the row length).
    public var dimensions: [Int]
    /// ggml type id as stored.
    public var ggmlTypeID: UInt32
    /// Decoded element type.
    public var dtype: DType
    /// Offset of the data from the start of the data section (a multiple of the alignment).
    public var relativeOffset: Int
    /// Absolute byte offset of the data in the file.
    public var fileOffset: Int
    /// Size of the data in bytes.
    public var byteCount: Int

    /// Row-major shape, outermost first (`dimensions` reversed).
    public var shape: [Int] { dimensions.reversed() }
    /// Product of the dimensions.
    public var elementCount: Int { dimensions.reduce(1, *) }
}
