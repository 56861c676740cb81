/// Per-block sparsity targets: the composition of a ``SparsityPattern`` with the ratios of a
/// ``LayerwiseAllocation`` (STYLE rule 7: pattern × allocation stay independent values).
///
/// - Unstructured: block `l` gets `.ratio(R_l)`.
/// - N:M: block `l` gets `.nm(zeros: N_l, group: M)` with integer `N_l` from ``MixedNM``
///   (DLP-METHOD §6, OWL's "mixed N:M"); a uniform allocation gives `N_l = N` everywhere.
public struct BlockTargets: Sendable, Equatable, Codable {
    /// One target per block. `[L]`
    public let targets: [SparsityTarget]
    /// The achieved mean sparsity over blocks (equal-size blocks), `mean_l fraction(target_l)`.
    public let achievedMean: Double

    /// Targets for `pattern` from per-block `ratios` that average `target` (an allocation's
    /// output). For N:M, `target` is normally the pattern's own `zeros/group`.
    public init(pattern: SparsityPattern, ratios: [Double], target: Double) throws {
        switch pattern {
        case .unstructured:
            for (l, r) in ratios.enumerated() where !(r >= 0 && r < 1) {
                throw PruningError.ratioOutOfRange(name: "block \(l)", ratio: r)
            }
            targets = ratios.map { .ratio($0) }
            achievedMean = ratios.isEmpty ? 0 : ratios.reduce(0, +) / Double(ratios.count)
        case let .nm(_, group):
            let mixed = try MixedNM(ratios: ratios, group: group, target: target)
            targets = mixed.zeros.map { .nm(zeros: $0, group: group) }
            achievedMean = mixed.achievedMean
        }
    }
}
