/// The within-layer pruner: how weights are scored and whether the survivors are updated.
public enum PruningMethod: String, Sendable, Codable, CaseIterable {
    /// Zero the smallest `|W|` (per matrix unstructured; per group for N:M).
    case magnitude
    /// Wanda (Sun et al., 2023): score `|W_ij|·sqrt(s_j)`, compared within each output row.
    case wanda
    /// SparseGPT (Frantar & Alistarh, 2023): OBS mask selection and weight update from the Hessian.
    case sparsegpt

    /// Parses a CLI value, listing the valid ones on error.
    public static func parse(_ text: String) throws -> PruningMethod {
        guard let value = PruningMethod(rawValue: text.lowercased()) else {
            throw PruningError.invalidSetting(name: "method", value: text,
                                              valid: allCases.map(\.rawValue).joined(separator: ", "))
        }
        return value
    }
}

