/// DLP's allocation (Chen et al., ICML 2025; DLP-METHOD §3): blocks whose pooled Wanda scores
/// have a larger statistic `S_l` are less important and pruned more.
///
/// `I_l = 1 − S_l / Σ_k S_k`; `d_l = (I_l − min I)/(max I − min I) · 2α`;
/// `R_l = p + mean(d) − d_l`. So `mean(R) = p` and `max R − min R = 2α` before clamping.
/// If all `S_l` are equal (`max I = min I`) every block gets `p`. Ratios outside
/// `[0, ceiling]` go through ``RatioClamping`` (mean kept at `p`, span then below `2α`); the
/// reference instead floors ratios ≤ 0 to 0.01 and has no upper cap.
public struct DLPAllocation: LayerwiseAllocation {
    public static let name = "dlp"
    public static let title = "DLP"
    public static let summary = "blocks with a larger median (or mean) pooled Wanda score are pruned more"
    /// `α`, the half-width of the ratio range; the ramp takes the same parameter.
    public static let alphaParameter = AllocationParameter(
        key: "alpha", flag: "--alpha", placeholder: "α", kind: .number, defaultValue: "0.15", tag: "a", symbol: "α=",
        help: "ratios span 2α around P (default 0.15)")
    public static let parameters = [
        alphaParameter,
        AllocationParameter(key: "statistic", flag: "--statistic", placeholder: "S",
                            kind: .choice(BlockStatistic.allCases.map(\.rawValue)), defaultValue: "median", tag: "",
                            symbol: "", help: "block unimportance statistic, median (paper) | mean (released code)"),
    ]

    /// Half-width `α` of the ratio range (reference 0.15 at p = 0.7).
    public var alpha: Double
    /// `S_l`: median (paper, default) or mean (released code).
    public var statistic: BlockStatistic
    /// Largest allowed ratio.
    public var ceiling: Double

    public init(alpha: Double = 0.15, statistic: BlockStatistic = .median, ceiling: Double = RatioClamping.defaultCeiling) {
        self.alpha = alpha
        self.statistic = statistic
        self.ceiling = ceiling
    }

    public init(values: AllocationValues) throws {
        self.init(alpha: try values.number("alpha"), statistic: try BlockStatistic.parse(values["statistic"] ?? ""))
    }

    public var requirement: AllocationRequirement { .blockScores(outlierThreshold: nil) }

    public func rankingStatistic(_ statistics: BlockScoreStatistics) -> Double? { statistic.value(of: statistics) }

    public func ratios(_ statistics: [BlockScoreStatistics], blocks: Int, target: Double) throws -> [Double] {
        guard alpha >= 0, alpha.isFinite else {
            throw PruningError.invalidSetting(name: "DLP alpha", value: "\(alpha)", valid: "a finite number ≥ 0")
        }
        guard target >= 0, target < 1 else { throw PruningError.ratioOutOfRange(name: "target sparsity", ratio: target) }
        guard statistics.count == blocks else {
            throw PruningError.statisticsMismatch(expected: "one statistic per block (\(blocks))", actual: "\(statistics.count)")
        }
        let s = statistics.map(statistic.value(of:))
        guard !s.isEmpty else { return [] }
        let total = s.reduce(0, +)
        guard total > 0, total.isFinite else { return [Double](repeating: target, count: s.count) }
        let importance = s.map { 1 - $0 / total }
        let (lo, hi) = (importance.min() ?? 0, importance.max() ?? 0)
        guard hi > lo else { return [Double](repeating: target, count: s.count) }
        let d = importance.map { ($0 - lo) / (hi - lo) * 2 * alpha }
        let meanD = d.reduce(0, +) / Double(d.count)
        let raw = d.map { target + meanD - $0 }
        return try RatioClamping.clamp(raw, target: target, ceiling: ceiling, parameter: "alpha", value: alpha)
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
