/// What one matrix must lose: a ratio (unstructured) or `zeros` in every group of `group`
/// consecutive inputs of a row (N:M). Built per block from the pattern and the allocation
/// (``BlockTargets``); the pruners consume it.
public enum SparsityTarget: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    /// Prune a fraction `ratio ∈ [0, 1)`; how it is counted (per matrix, per row, per column
    /// block) is the pruner's comparison group.
    case ratio(Double)
    /// Prune exactly `zeros` of every `group` consecutive inputs of each row.
    case nm(zeros: Int, group: Int)

    /// The fraction of weights removed.
    public var fraction: Double {
        switch self {
        case let .ratio(r): return r
        case let .nm(zeros, group): return Double(zeros) / Double(group)
        }
    }

    public var description: String {
        switch self {
        case let .ratio(r): return "ratio \(r)"
        case let .nm(zeros, group): return "\(zeros) zeros per \(group)"
        }
    }

    /// Throws unless the ratio is in `[0, 1)`, the N:M group is valid, and it divides `columns`.
    func validate(columns: Int, name: String) throws {
        switch self {
        case let .ratio(r):
            guard r >= 0, r < 1 else { throw PruningError.ratioOutOfRange(name: name, ratio: r) }
        case let .nm(zeros, group):
            guard group >= 1, zeros >= 0, zeros <= group else {
                throw PruningError.invalidSetting(name: "\(name) N:M target", value: "\(zeros) zeros per \(group)",
                                                  valid: "0 ≤ zeros ≤ group, group ≥ 1")
            }
            guard columns % group == 0 else {
                throw PruningError.groupDoesNotDivide(name: name, columns: columns, group: group)
            }
        }
    }
}
