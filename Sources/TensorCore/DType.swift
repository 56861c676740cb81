/// Element types of stored tensors, across GGUF and safetensors.
///
/// Float types store one value per element; the quantized GGUF types store blocks of
/// `blockSize` elements in `bytesPerBlock` bytes (ggml's block layouts).
public enum DType: String, Sendable, CaseIterable, Codable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64"
    case q4_0 = "Q4_0", q4_1 = "Q4_1", q5_0 = "Q5_0", q5_1 = "Q5_1", q8_0 = "Q8_0"
    case q4_K = "Q4_K", q5_K = "Q5_K", q6_K = "Q6_K"

    /// Elements per block (1 for float types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: return 32
        case .q4_K, .q5_K, .q6_K: return 256
        }
    }

    /// Bytes per block (bytes per element for float types).
    public var bytesPerBlock: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .f64: return 8
        case .q4_0: return 18
        case .q4_1: return 20
        case .q5_0: return 22
        case .q5_1: return 24
        case .q8_0: return 34
        case .q4_K: return 144
        case .q5_K: return 176
        case .q6_K: return 210
        }
    }

    /// Whether values are stored in quantized blocks.
    public var isQuantized: Bool { blockSize > 1 }

    /// Bytes needed for `elements` values, or `nil` if `elements` is not a whole number of blocks
    /// or the size overflows.
    public func byteCount(elements: Int) -> Int? {
        guard elements >= 0, elements % blockSize == 0 else { return nil }
        let (bytes, overflow) = (elements / blockSize).multipliedReportingOverflow(by: bytesPerBlock)
        return overflow ? nil : bytes
    }
}
