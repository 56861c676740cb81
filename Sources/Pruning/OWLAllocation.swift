/// OWL's allocation (Yin et al., ICML 2024; DLP-METHOD §4): blocks with more outliers in their
/// pooled Wanda scores are pruned less.
///
/// `D_l` = ``BlockScoreStatistics/outlierRatio`` (percent of scores above `M·mean`);
/// `v = (D − min D)/(max D − min D)`; `R_l = p − 2λ·(v_l − mean v)`. So `mean(R) = p` and the
/// span is `2λ` before clamping. All `D_l` equal → uniform. Clamping as in ``DLPAllocation``.
public struct OWLAllocation: LayerwiseAllocation {
    public static let name = "owl"
    public static let title = "OWL"
    public static let summary = "blocks with more outlier scores (above M × mean) are pruned less"
    public static let parameters = [
        AllocationParameter(key: "M", flag: "--owl-m", placeholder: "M", kind: .number, defaultValue: "5.0", tag: "M",
                            symbol: "M=", help: "outlier threshold M (default 5)"),
        AllocationParameter(key: "lambda", flag: "--owl-lambda", placeholder: "λ", kind: .number, defaultValue: "0.08",
                            tag: "l", symbol: "λ=", help: "ratios span 2λ around P (default 0.08)"),
    ]

    /// Outlier threshold `M` (DLP authors' rerun: 5). Statistics must be computed with the same.
    public var outlierThreshold: Double
    /// Half-width `λ` of the ratio range (DLP authors' rerun: 0.08).
    public var lambda: Double
    /// Largest allowed ratio.
    public var ceiling: Double

    public init(outlierThreshold: Double = 5, lambda: Double = 0.08, ceiling: Double = RatioClamping.defaultCeiling) {
        self.outlierThreshold = outlierThreshold
        self.lambda = lambda
        self.ceiling = ceiling
    }

    public init(values: AllocationValues) throws {
        self.init(outlierThreshold: try values.number("M"), lambda: try values.number("lambda"))
    }

    public var requirement: AllocationRequirement { .blockScores(outlierThreshold: outlierThreshold) }

    public func rankingStatistic(_ statistics: BlockScoreStatistics) -> Double? { statistics.outlierRatio }

    public func ratios(_ statistics: [BlockScoreStatistics], blocks: Int, target: Double) throws -> [Double] {
        guard lambda >= 0, lambda.isFinite else {
            throw PruningError.invalidSetting(name: "OWL lambda", value: "\(lambda)", valid: "a finite number ≥ 0")
        }
        guard target >= 0, target < 1 else { throw PruningError.ratioOutOfRange(name: "target sparsity", ratio: target) }
        guard statistics.count == blocks else {
            throw PruningError.statisticsMismatch(expected: "one statistic per block (\(blocks))", actual: "\(statistics.count)")
        }
        if let other = statistics.first(where: { $0.outlierThreshold != outlierThreshold }) {
            throw PruningError.statisticsMismatch(expected: "OWL M = \(outlierThreshold)",
                                                  actual: "M = \(other.outlierThreshold)")
        }
        let ratio = statistics.map(\.outlierRatio)
        guard let lo = ratio.min(), let hi = ratio.max() else { return [] }
        guard hi > lo else { return [Double](repeating: target, count: ratio.count) }
        let v = ratio.map { ($0 - lo) / (hi - lo) }
        let meanV = v.reduce(0, +) / Double(v.count)
        let raw = v.map { target - 2 * lambda * ($0 - meanV) }
        return try RatioClamping.clamp(raw, target: target, ceiling: ceiling, parameter: "lambda", value: lambda)
    }
}
