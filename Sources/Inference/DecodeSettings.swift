import Sparse

/// When the decoder stores a block linear sparse.
public enum SparseMode: String, Sendable, Codable, CaseIterable {
    /// Sparse where the matrix's sparsity reaches ``threshold(for:)`` (where the sparse kernel
    /// is measured to be faster than dense of the same value type).
    case auto
    /// Every block linear sparse, whatever its sparsity.
    case on
    /// Every block linear dense.
    case off

    /// Sparsity from which `auto` stores a matrix sparse. Measured with `dlp bench sparse
    /// --sparsity …` on a Zen 4 (AVX-512) and a SmolLM2-135M block, one thread: the sparse
    /// kernel overtakes dense `sgemv` (f32) near 20% and the dense 16-bit kernel near 45% (bf16,
    /// whose dense baseline reads half the bytes). AVX2 machines cross later; the thresholds
    /// stay conservative so `auto` is never slower than dense by much.
    public static func threshold(for type: SparseValueType) -> Double {
        type == .f32 ? 0.3 : 0.5
    }

    /// Whether a matrix of `sparsity` is stored sparse under this mode.
    public func storesSparse(sparsity: Double, valueType: SparseValueType) -> Bool {
        switch self {
        case .on: return true
        case .off: return false
        case .auto: return sparsity >= Self.threshold(for: valueType)
        }
    }

    /// Parses a CLI value, listing the valid ones.
    public static func parse(_ text: String) throws -> SparseMode {
        guard let mode = SparseMode(rawValue: text.lowercased()) else {
            throw SparseFormatError.invalidSetting(name: "sparse mode", value: text,
                                                   valid: allCases.map(\.rawValue).joined(separator: ", "))
        }
        return mode
    }
}

/// How the decoder stores its weights: the value type of every linear (block linears and the LM
/// head) and when block linears are sparse.
public struct DecodeSettings: Sendable, Equatable {
    public var valueType: SparseValueType
    public var sparse: SparseMode

    public init(valueType: SparseValueType = .f32, sparse: SparseMode = .auto) {
        self.valueType = valueType
        self.sparse = sparse
    }
}
