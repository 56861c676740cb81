/// The exact pruning counts a pruner promises for one matrix, in the form
/// ``SparsityVerifier`` checks. Counts use `⌊n·R⌋` computed as `Int(Double(n)·R)`, the same
/// floating-point product as the reference's `int(n * ratio)`.
public enum SparsityRequirement: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Exactly `zeros` pruned in the whole matrix (magnitude, unstructured).
    case perMatrix(zeros: Int)
    /// Exactly `zeros` pruned in every row (Wanda, unstructured).
    case perRow(zeros: Int)
    /// Exactly `zeros` pruned in every group of `group` consecutive inputs of each row (N:M).
    case perGroup(zeros: Int, group: Int)
    /// Exactly `⌊rows·w_b·ratio⌋` pruned in every block of `width` consecutive columns (the last
    /// block `w_b` may be narrower): SparseGPT's unstructured mask.
    case perColumnBlock(width: Int, ratio: Double)

    /// `⌊n·ratio⌋` as the reference computes it.
    static func count(_ n: Int, _ ratio: Double) -> Int { Int(Double(n) * ratio) }

    public var description: String {
        switch self {
        case let .perMatrix(zeros): return "\(zeros) zeros in the matrix"
        case let .perRow(zeros): return "\(zeros) zeros per row"
        case let .perGroup(zeros, group): return "\(zeros) zeros per \(group) consecutive inputs"
        case let .perColumnBlock(width, ratio): return "⌊rows·\(width)·\(ratio)⌋ zeros per \(width)-column block"
        }
    }
}
