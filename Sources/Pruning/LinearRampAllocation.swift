/// A data-free linear ramp across depth: block `l` of `L` gets `R_l = p − α + 2α·l/(L − 1)`, so
/// the first block is pruned least, the last most, `mean(R) = p` and the span is `2α` — DLP's
/// mean and span without looking at the model. ATP (ICML 2025) argues such a monotone ramp is
/// near-optimal for LLaMA-family models; here it is the baseline that tells whether DLP's
/// statistics add anything beyond "prune deeper blocks more". One block gets `p`. Ratios outside
/// `[0, ceiling]` go through ``RatioClamping``.
public struct LinearRampAllocation: LayerwiseAllocation {
    public static let name = "ramp"
    public static let title = "ramp"
    public static let summary = "data-free linear ramp from P − α (first block) to P + α (last block)"
    /// DLP's `α`: same flag, key and default, so a plan or command compares the two directly.
    public static let parameters = [DLPAllocation.alphaParameter]

    /// Half-width of the ramp.
    public var alpha: Double
    /// Largest allowed ratio.
    public var ceiling: Double

    public init(alpha: Double = 0.15, ceiling: Double = RatioClamping.defaultCeiling) {
        self.alpha = alpha
        self.ceiling = ceiling
    }

    public init(values: AllocationValues) throws { self.init(alpha: try values.number("alpha")) }

    public var requirement: AllocationRequirement { .nothing }

    public func ratios(_ statistics: [BlockScoreStatistics], blocks: Int, target: Double) throws -> [Double] {
        guard target >= 0, target < 1 else { throw PruningError.ratioOutOfRange(name: "target sparsity", ratio: target) }
        guard blocks > 1 else { return [Double](repeating: target, count: blocks) }
        let raw = (0..<blocks).map { target - alpha + 2 * alpha * Double($0) / Double(blocks - 1) }
        return try RatioClamping.clamp(raw, target: target, ceiling: ceiling, parameter: "alpha", value: alpha)
    }
}
