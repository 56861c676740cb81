import Foundation

/// Integer zeros per block for N:M with a non-uniform allocation (DLP-METHOD §6; OWL's
/// "mixed N:M"): block `l` prunes `N_l` of every `M`, with `mean_l N_l / M` equal to the target.
///
/// Rounding (largest remainder, deterministic):
/// 1. The total is `T = p·M·L` when that is an integer (within `1e-9`); otherwise the nearest
///    integer, and ``achievedMean`` `= T / (M·L)` reports what was reached.
/// 2. Ideal values `x_l = R_l·M`, each clamped into `[0, M − 1]` (a block never loses whole
///    groups); start from `N_l = ⌊x_l⌋`.
/// 3. While `Σ N_l < T`, add one to the block with the largest remainder `x_l − N_l` among
///    those with `N_l < M − 1`; while `Σ N_l > T`, remove one from the block with the smallest
///    remainder among those with `N_l > 0`. Ties go to the lower block index.
///
/// So ratios that are exact multiples of `1/M` are kept as they are, and a uniform allocation at
/// `p = N/M` gives `N_l = N` for every block.
public struct MixedNM: Sendable, Equatable, Codable {
    /// The group size `M`.
    public let group: Int
    /// Zeros per group for each block. `[L]`
    public let zeros: [Int]
    /// `Σ N_l / (M·L)`: equals the target when `p·M·L` is an integer.
    public let achievedMean: Double

    /// Rounds per-block `ratios` (each in `[0, 1)`) with target mean `target` to integer zeros
    /// per group of `group`.
    public init(ratios: [Double], group: Int, target: Double) throws {
        guard group >= 2 else {
            throw PruningError.invalidSetting(name: "N:M group", value: "\(group)", valid: "an integer ≥ 2")
        }
        guard target >= 0, target < 1 else { throw PruningError.ratioOutOfRange(name: "N:M target", ratio: target) }
        for (l, r) in ratios.enumerated() where !(r >= 0 && r < 1) {
            throw PruningError.ratioOutOfRange(name: "block \(l)", ratio: r)
        }
        self.group = group
        let count = ratios.count
        guard count > 0 else {
            zeros = []
            achievedMean = target
            return
        }
        let exactTotal = target * Double(group) * Double(count)
        let maximumTotal = (group - 1) * count
        let total = min(maximumTotal, max(0, Int(exactTotal.rounded())))
        let ideal = ratios.map { min(Double(group - 1), $0 * Double(group)) }
        var n = ideal.map { Int($0.rounded(.down)) }
        var sum = n.reduce(0, +)
        while sum < total {
            var best = -1
            for l in 0..<count where n[l] < group - 1 {
                if best < 0 || ideal[l] - Double(n[l]) > ideal[best] - Double(n[best]) { best = l }
            }
            guard best >= 0 else { break }
            n[best] += 1
            sum += 1
        }
        while sum > total {
            var best = -1
            for l in 0..<count where n[l] > 0 {
                if best < 0 || ideal[l] - Double(n[l]) < ideal[best] - Double(n[best]) { best = l }
            }
            guard best >= 0 else { break }
            n[best] -= 1
            sum -= 1
        }
        zeros = n
        achievedMean = Double(sum) / Double(group * count)
    }
}
