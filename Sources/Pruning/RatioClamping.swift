/// Brings layerwise ratios into `[0, ceiling]` while keeping their mean at `p` (DLP-METHOD §3
/// edge cases, project decision; used by DLP and OWL).
///
/// Procedure: if every ratio is already inside, they are returned unchanged. Otherwise find the
/// shift `c` with `mean_l clamp(R_l + c, 0, ceiling) = p` ("water filling": the function is
/// continuous and non-decreasing in `c`, found by bisection in Double and then solved exactly on
/// the set of unclamped blocks), and return `clamp(R_l + c)`. Blocks keep their order; clamped
/// blocks sit at the bound; the others move together by `c`. A solution exists iff
/// `0 ≤ p ≤ ceiling`; otherwise it throws, naming `p` and the allocation's parameter.
public enum RatioClamping {
    /// The largest ratio an allocation hands out by default: a block keeps at least 1% of each
    /// matrix (a ratio of 1 would delete whole matrices).
    public static let defaultCeiling = 0.99

    /// Ratios clamped into `[0, ceiling]` with their mean kept at `target`.
    public static func clamp(_ ratios: [Double], target: Double, ceiling: Double = defaultCeiling,
                             parameter: String, value: Double) throws -> [Double] {
        guard !ratios.isEmpty else { return [] }
        guard target >= 0, target <= ceiling, ceiling < 1 else {
            throw PruningError.allocationImpossible(
                target: target, parameter: parameter, value: value,
                reason: "every block ratio must lie in [0, \(ceiling)], so p must too")
        }
        if ratios.allSatisfy({ $0 >= 0 && $0 <= ceiling }) { return ratios }
        let count = Double(ratios.count)
        func clamped(_ r: Double, _ c: Double) -> Double { min(ceiling, max(0, r + c)) }
        func excess(_ c: Double) -> Double { ratios.reduce(0) { $0 + clamped($1, c) } - count * target }
        var low = -(ratios.max() ?? 0), high = ceiling - (ratios.min() ?? 0)
        for _ in 0..<200 {
            let mid = (low + high) / 2
            if excess(mid) < 0 { low = mid } else { high = mid }
        }
        var c = (low + high) / 2
        // Exact solve on the blocks left free by this shift.
        let free = ratios.indices.filter { ratios[$0] + c > 0 && ratios[$0] + c < ceiling }
        if !free.isEmpty {
            let fixed = ratios.indices.filter { !free.contains($0) }.reduce(0) { $0 + clamped(ratios[$1], c) }
            let freeSum = free.reduce(0) { $0 + ratios[$1] }
            let exact = (count * target - fixed - freeSum) / Double(free.count)
            if free.allSatisfy({ ratios[$0] + exact >= 0 && ratios[$0] + exact <= ceiling }) { c = exact }
        }
        return ratios.map { clamped($0, c) }
    }
}
