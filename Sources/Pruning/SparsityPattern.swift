import Foundation

/// Which weights compete for pruning: the whole budget freely (unstructured), or a fixed number
/// of zeros in every group of `group` consecutive inputs of a row (N:M semi-structured).
///
/// Naming: the CLI text `"N:M"` is hardware speak, **at most N non-zeros in every M**
/// (NVIDIA's 2:4 sparse tensor cores). So `"2:4"` is `.nm(zeros: 2, group: 4)` and `"1:4"` is
/// `.nm(zeros: 3, group: 4)`; the enum stores the number of **zeros** explicitly so the two
/// conventions cannot be confused (Wanda's and SparseGPT's `prune_n` is the zeros count).
/// Encoded as its CLI text (`"unstructured"`, `"2:4"`).
public enum SparsityPattern: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    /// Any weights may be pruned; the ratio decides how many.
    case unstructured
    /// In every group of `group` consecutive inputs of a row, exactly `zeros` weights are pruned.
    case nm(zeros: Int, group: Int)

    /// Parses `"unstructured"` or `"N:M"` (at most N non-zeros per M, `1 ≤ N < M ≤ 256`).
    public static func parse(_ text: String) throws -> SparsityPattern {
        let valid = "unstructured, or N:M meaning at most N non-zeros in every M consecutive weights (1 ≤ N < M ≤ 256), e.g. 2:4 or 4:8"
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        if trimmed == "unstructured" { return .unstructured }
        let parts = trimmed.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let nonZeros = Int(parts[0]), let group = Int(parts[1]),
              group >= 2, group <= 256, nonZeros >= 1, nonZeros < group else {
            throw PruningError.invalidSetting(name: "sparsity pattern", value: text, valid: valid)
        }
        return .nm(zeros: group - nonZeros, group: group)
    }

    /// The fraction of weights the pattern prunes, `zeros / group`; nil for unstructured (the
    /// ratio comes from the allocation).
    public var impliedRatio: Double? {
        switch self {
        case .unstructured: return nil
        case let .nm(zeros, group): return Double(zeros) / Double(group)
        }
    }

    /// CLI form: `"unstructured"` or `"N:M"` with N the non-zeros.
    public var description: String {
        switch self {
        case .unstructured: return "unstructured"
        case let .nm(zeros, group): return "\(group - zeros):\(group)"
        }
    }
}

extension SparsityPattern {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text = try c.decode(String.self)
        do { self = try SparsityPattern.parse(text) } catch let error as PruningError {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
