import TensorCore

/// Checks that a pruned matrix has what was requested; a mismatch throws
/// ``PruningError/sparsityMismatch(name:location:expected:actual:)`` naming the matrix and the
/// row / group / column block.
///
/// Pre-existing zeros: a weight that was already exactly zero is not "pruned" unless the pruner
/// chose it, and a zero the pruner did not choose must not make the check fail. Hence two forms:
/// - ``verify(_:weight:name:)`` checks the pruner's **mask**: exact counts per group, and
///   `weight == 0` wherever the mask is set. Exact whatever zeros the weight had.
/// - ``verify(weight:requirement:name:)`` sees only values (e.g. an exported model): it checks
///   **at least** the required zeros per group (pre-existing or coincidental zeros may add more).
public enum SparsityVerifier {
    /// Exact check of `outcome.mask` against `outcome.requirement`, and that `weight` is zero
    /// wherever the mask is set.
    public static func verify(_ outcome: LinearPruningOutcome, weight: Matrix, name: String) throws {
        let mask = outcome.mask
        guard mask.rows == weight.rows, mask.columns == weight.columns else {
            throw PruningError.statisticsShape(name: name, expected: "[\(weight.rows), \(weight.columns)] mask",
                                               actual: "[\(mask.rows), \(mask.columns)]")
        }
        try check(outcome.requirement, rows: mask.rows, columns: mask.columns, name: name, exact: true) { r, range in
            mask.prunedCount(row: r, columns: range)
        }
        for r in 0..<weight.rows {
            for c in 0..<weight.columns where mask[r, c] && weight[r, c] != 0 {
                throw PruningError.sparsityMismatch(name: name, location: "pruned weight (row \(r), column \(c))",
                                                    expected: 0, actual: 1)
            }
        }
    }

    /// Lower-bound check on values only: every group has at least the required zeros.
    public static func verify(weight: Matrix, requirement: SparsityRequirement, name: String) throws {
        try check(requirement, rows: weight.rows, columns: weight.columns, name: name, exact: false) { r, range in
            var zeros = 0
            for c in range where weight[r, c] == 0 { zeros += 1 }
            return zeros
        }
    }

    private static func check(_ requirement: SparsityRequirement, rows: Int, columns: Int, name: String, exact: Bool,
                              count: (Int, Range<Int>) -> Int) throws {
        func compare(_ actual: Int, _ expected: Int, _ location: @autoclosure () -> String) throws {
            if exact ? actual != expected : actual < expected {
                throw PruningError.sparsityMismatch(name: name, location: location(), expected: expected, actual: actual)
            }
        }
        switch requirement {
        case let .perMatrix(zeros):
            let total = (0..<rows).reduce(0) { $0 + count($1, 0..<columns) }
            try compare(total, zeros, "the matrix")
        case let .perRow(zeros):
            for r in 0..<rows { try compare(count(r, 0..<columns), zeros, "row \(r)") }
        case let .perGroup(zeros, group):
            for r in 0..<rows {
                for start in stride(from: 0, to: columns, by: group) {
                    try compare(count(r, start..<min(start + group, columns)), zeros,
                                "row \(r), columns \(start)..<\(start + group)")
                }
            }
        case let .perColumnBlock(width, ratio):
            for start in stride(from: 0, to: columns, by: width) {
                let range = start..<min(start + width, columns)
                let total = (0..<rows).reduce(0) { $0 + count($1, range) }
                try compare(total, SparsityRequirement.count(rows * range.count, ratio), "columns \(range)")
            }
        }
    }
}
