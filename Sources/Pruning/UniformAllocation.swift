/// Every block at `p`.
public struct UniformAllocation: LayerwiseAllocation {
    public static let name = "uniform"
    public static let title = "uniform"
    public static let summary = "every block at the target"
    public static let parameters: [AllocationParameter] = []

    public init() {}
    public init(values: AllocationValues) throws {}

    public var requirement: AllocationRequirement { .nothing }

    public func ratios(_ statistics: [BlockScoreStatistics], blocks: Int, target: Double) throws -> [Double] {
        guard target >= 0, target < 1 else { throw PruningError.ratioOutOfRange(name: "target sparsity", ratio: target) }
        return [Double](repeating: target, count: blocks)
    }
}
