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

    /// Sparsity from which `auto` stores a matrix sparse on this CPU: where the sparse kernel
    /// overtakes the dense one of the same value type. Measured with `dlp bench sparse --model
    /// smollm2-135m --blocks 10 --threads 2 --sparsity P` (magnitude-pruned) on a Zen 4: AVX-512
    /// sparse/dense f32 1.01× at 10%, 1.11× at 20%, 1.37× at 30%; bf16 1.03×, 1.04×, 1.24×. The
    /// AVX2 kernel (same machine) f32 1.54× at 70% but 0.99× on the whole Wanda + DLP 70% model,
    /// bf16 0.89× at 70%, 0.84× at 80%, 1.07× at 90%. Without AVX2 only the reference loop exists,
    /// which never beats BLAS: `auto` stays dense.
    ///
    /// Quantized types, against the dense quantized kernel of the same type (`dlp bench sparse
    /// --model smollm2-135m --blocks 10 --threads 2 --sparsity P --dtype q8_0,q4_0`, same Zen 4):
    /// AVX-512 Q8_0 sparse 1.30× at 50%, 1.34× at 70%, 1.42× at 80%; Q4_0 0.90×, 0.87×, 0.90× in
    /// those cache-resident products and 0.89–1.11× end to end at 70% on the whole model (`dlp
    /// bench decode`, four runs) — about the same time for a quarter fewer bytes — so Q8_0 from
    /// 30%, Q4_0 from 70%. The AVX2 kernels (table expand, no VNNI) reach 0.40–0.67× their dense twins at
    /// 70%, and since the dense Q4_0 loop uses the nibbles in place (no expand) 0.35–0.52× for Q4_0
    /// and 0.67–0.78× for Q8_0 on a Zen 3 (one thread): dense always.
    public static func threshold(for type: WeightType) -> Double {
        if let q = type.quantizedType {
            switch QuantizedKernel.best {
            case .avx512: return q == .q8_0 ? 0.3 : 0.7
            case .avx2, .reference: return 1.1
            }
        }
        return threshold(for: type.floatType!)
    }

    public static func threshold(for type: SparseValueType, kernel: SparseKernel? = nil) -> Double {
        switch kernel ?? SparseKernel.best(for: type) {
        case .avx512: return type == .f32 ? 0.2 : 0.3
        case .avx2: return type == .f32 ? 0.7 : 0.9
        case .reference: return 1.1
        }
    }

    /// Whether a matrix of `sparsity` is stored sparse under this mode.
    public func storesSparse(sparsity: Double, valueType: WeightType) -> Bool {
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

/// How the decoder stores its weights: the value type of every block linear and when they are
/// sparse. The LM head is dense in the same type, except for the quantized types, where it is
/// Q8_0 (a 4-bit head costs more accuracy than the rest of the model).
public struct DecodeSettings: Sendable, Equatable {
    public var valueType: WeightType
    public var sparse: SparseMode

    public init(valueType: WeightType = .f32, sparse: SparseMode = .auto) {
        self.valueType = valueType
        self.sparse = sparse
    }

    /// The LM head's type.
    public var headType: WeightType { valueType.quantizedType == nil ? valueType : .q8_0 }
}
