import Kernels
import TensorCore

/// Pruning by a fixed score with no weight update: magnitude and Wanda (DLP-METHOD §5).
///
/// The comparison group decides who competes:
/// - unstructured, `.matrix`: the `⌊numel·R⌋` lowest scores of the matrix (magnitude; the
///   reference `prune_magnitude` sorts the flattened matrix);
/// - unstructured, `.row`: the `⌊in·R⌋` lowest scores of every output row (Wanda's
///   `prune_wanda`, `sort(dim=-1)`);
/// - N:M (either group): the `N` lowest of every `M` consecutive inputs of a row.
///
/// Ties are broken by lower index (row-major for `.matrix`), i.e. the order of a stable sort,
/// so the count is exact. Deliberate deviation: the reference magnitude pruner keeps
/// `W <= sorted[k]`, which prunes `k + 1` weights (more on ties); here exactly `k`.
public enum ScoreMaskPruner {
    /// Who competes in unstructured mode.
    public enum ComparisonGroup: String, Sendable {
        case matrix, row
    }

    /// Zeros the chosen weights of `weight` (`[out, in]`) and returns the mask.
    public static func prune(_ weight: inout Matrix, score: WeightScore, group: ComparisonGroup,
                             target: SparsityTarget, name: String,
                             threads: ComputeThreads = .single) throws -> LinearPruningOutcome {
        let (rows, columns) = (weight.rows, weight.columns)
        try target.validate(columns: columns, name: name)
        try score.validate(columns: columns, name: name)
        var mask = PruningMask(rows: rows, columns: columns)
        let requirement: SparsityRequirement
        switch (target, group) {
        case let (.ratio(r), .matrix):
            let k = SparsityRequirement.count(rows * columns, r)
            requirement = .perMatrix(zeros: k)
            try pruneMatrix(weight, score: score, k: k, mask: &mask, name: name)
        case let (.ratio(r), .row):
            let k = SparsityRequirement.count(columns, r)
            requirement = .perRow(zeros: k)
            try pruneRows(weight, score: score, span: columns, k: k, mask: &mask, name: name, threads: threads)
        case let (.nm(zeros, m), _):
            requirement = .perGroup(zeros: zeros, group: m)
            try pruneRows(weight, score: score, span: m, k: zeros, mask: &mask, name: name, threads: threads)
        }
        apply(mask, to: &weight)
        return LinearPruningOutcome(mask: mask, requirement: requirement, sparseGPT: nil)
    }

    /// Sets `weight[r, c] = 0` wherever `mask` is set.
    public static func apply(_ mask: PruningMask, to weight: inout Matrix) {
        precondition(mask.rows == weight.rows && mask.columns == weight.columns, "mask shape differs from the weight")
        let columns = weight.columns
        for r in 0..<weight.rows {
            for c in 0..<columns where mask[r, c] { weight.storage[r * columns + c] = 0 }
        }
    }

    /// The `k` lowest of the whole matrix: scores into one buffer, quickselect, then mark.
    private static func pruneMatrix(_ weight: Matrix, score: WeightScore, k: Int,
                                    mask: inout PruningMask, name: String) throws {
        let (rows, columns) = (weight.rows, weight.columns)
        guard k > 0 else { return }
        var buffer = [Float](repeating: 0, count: rows * columns)   // [rows, columns] scores
        try weight.storage.withUnsafeBufferPointer { w in
            guard let wp = w.baseAddress else { return }
            try buffer.withUnsafeMutableBufferPointer { b in
                guard let bp = b.baseAddress else { return }
                for r in 0..<rows {
                    if let c = score.scoreRow(wp + r * columns, columns: columns, into: bp + r * columns) {
                        throw PruningError.nonFiniteValue(name: name, row: r, column: c)
                    }
                }
                let value = Selection.kthSmallest(b, rank: k - 1)
                // The buffer is reordered now; recompute row scores for the marking passes.
                let row = bp   // reuse the first `columns` floats as one row of scores
                var below = 0
                for r in 0..<rows {
                    _ = score.scoreRow(wp + r * columns, columns: columns, into: row)
                    for c in 0..<columns where row[c] < value { below += 1 }
                }
                var ties = k - below
                for r in 0..<rows {
                    _ = score.scoreRow(wp + r * columns, columns: columns, into: row)
                    for c in 0..<columns {
                        let s = row[c]
                        if s < value {
                            mask.insert(row: r, column: c)
                        } else if s == value, ties > 0 {
                            mask.insert(row: r, column: c)
                            ties -= 1
                        }
                    }
                }
            }
        }
    }

    /// The `k` lowest of every span of `span` consecutive columns in each row (a whole row for
    /// Wanda, a group for N:M), rows in parallel.
    private static func pruneRows(_ weight: Matrix, score: WeightScore, span: Int, k: Int,
                                  mask: inout PruningMask, name: String, threads: ComputeThreads) throws {
        let (rows, columns) = (weight.rows, weight.columns)
        guard k > 0, rows > 0, columns > 0 else { return }
        let wordsPerRow = mask.wordsPerRow
        let failure = FirstFailure()
        weight.storage.withUnsafeBufferPointer { w in
            mask.words.withUnsafeMutableBufferPointer { m in
                guard let wp = w.baseAddress, let mp = m.baseAddress else { return }
                let weights = SharedPointer(base: UnsafeMutablePointer(mutating: wp))
                let words = SharedPointer(base: mp)
                parallelFor(0..<rows, threads: threads) { range in
                    let scores = UnsafeMutablePointer<Float>.allocate(capacity: 2 * columns)
                    defer { scores.deallocate() }
                    let scratch = scores + columns
                    for r in range {
                        if let c = score.scoreRow(weights.base + r * columns, columns: columns, into: scores) {
                            failure.record(row: r, column: c)
                            return
                        }
                        for start in stride(from: 0, to: columns, by: span) {
                            let s = scores + start
                            guard let threshold = Selection.lowest(k, of: s, count: span, scratch: scratch) else { continue }
                            var ties = threshold.tiesChosen
                            for c in 0..<span {
                                if s[c] < threshold.value {
                                    PruningMask.insert(words.base, wordsPerRow: wordsPerRow, row: r, column: start + c)
                                } else if s[c] == threshold.value, ties > 0 {
                                    PruningMask.insert(words.base, wordsPerRow: wordsPerRow, row: r, column: start + c)
                                    ties -= 1
                                }
                            }
                        }
                    }
                }
            }
        }
        if let (r, c) = failure.first { throw PruningError.nonFiniteValue(name: name, row: r, column: c) }
    }
}

import Foundation

/// The lowest-row failure reported by concurrent row workers (deterministic whichever thread
/// finds one first).
final class FirstFailure: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (row: Int, column: Int)?

    func record(row: Int, column: Int) {
        lock.lock()
        defer { lock.unlock() }
        if value.map({ row < $0.row }) ?? true { value = (row, column) }
    }

    var first: (row: Int, column: Int)? {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}
