/// A layerwise allocation: per-block sparsity ratios from per-block score statistics, averaging
/// the target `p` (DLP-METHOD §3–4). One small type per allocation; the pruner does not know
/// which one it walks (STYLE rule 7).
public protocol LayerwiseAllocation: Sendable {
    /// Ratios `R_l ∈ [0, 1)`, one per block, with `mean(R) = target` (blocks are equal-sized).
    /// `statistics` has one entry per block, in block order.
    func ratios(_ statistics: [BlockScoreStatistics], target: Double) throws -> [Double]
}

/// Every block at `p`.
public struct UniformAllocation: LayerwiseAllocation {
    public init() {}

    public func ratios(_ statistics: [BlockScoreStatistics], target: Double) throws -> [Double] {
        guard target >= 0, target < 1 else { throw PruningError.ratioOutOfRange(name: "target sparsity", ratio: target) }
        return [Double](repeating: target, count: statistics.count)
    }
}

/// Which pooled-score statistic is a block's unimportance `S_l` in DLP.
public enum BlockStatistic: String, Sendable, Codable, CaseIterable {
    /// Exact lower median (the paper's method; project default).
    case median
    /// Mean (the released code; the sum gives identical ratios).
    case mean

    /// The statistic's value.
    public func value(of statistics: BlockScoreStatistics) -> Double {
        switch self {
        case .median: return statistics.median
        case .mean: return statistics.mean
        }
    }

    /// Parses a CLI value, listing the valid ones on error.
    public static func parse(_ text: String) throws -> BlockStatistic {
        guard let value = BlockStatistic(rawValue: text.lowercased()) else {
            throw PruningError.invalidSetting(name: "block statistic", value: text,
                                              valid: allCases.map(\.rawValue).joined(separator: ", "))
        }
        return value
    }
}
