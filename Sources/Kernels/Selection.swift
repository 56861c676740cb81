/// Order statistics of `Float` buffers without a full sort: the k-th smallest value by in-place
/// quickselect, and the "k lowest, ties by index" rule every pruner uses to choose exactly `k`
/// entries.
///
/// Letters: `n` values, `k` a 0-based rank (`k = 0` is the minimum). Values must not be NaN
/// (callers check scores first); `-0` and `+0` compare equal.
public enum Selection {
    /// The value of rank `k` (0-based) among `values`, which are reordered in place (Hoare
    /// partition quickselect, median-of-three pivot; after `2·log₂ n` rounds that shrink the range
    /// by less than a quarter it sorts the remaining range, so the worst case is `O(n log n)`).
    ///
    /// The result equals `values.sorted()[k]`.
    public static func kthSmallest(_ values: UnsafeMutableBufferPointer<Float>, rank k: Int) -> Float {
        precondition(k >= 0 && k < values.count, "rank \(k) outside 0..<\(values.count)")
        guard let base = values.baseAddress else { preconditionFailure("empty selection") }
        var low = 0, high = values.count - 1
        var badRounds = 0
        let badLimit = 2 * (Int.bitWidth - values.count.leadingZeroBitCount) + 4
        while low < high {
            if badRounds > badLimit {
                var rest = UnsafeMutableBufferPointer(start: base + low, count: high - low + 1)
                rest.sort()
                return base[k]
            }
            let before = high - low
            let mid = low + (high - low) / 2
            // Median of three to base[mid].
            if base[mid] < base[low] { swapAt(base, mid, low) }
            if base[high] < base[low] { swapAt(base, high, low) }
            if base[high] < base[mid] { swapAt(base, high, mid) }
            let pivot = base[mid]
            var i = low, j = high
            while i <= j {
                while base[i] < pivot { i += 1 }
                while pivot < base[j] { j -= 1 }
                if i <= j {
                    swapAt(base, i, j)
                    i += 1
                    j -= 1
                }
            }
            // Now [low, j] ≤ pivot, [i, high] ≥ pivot, and (j, i) == pivot.
            if k <= j {
                high = j
            } else if k >= i {
                low = i
            } else {
                return base[k]
            }
            if high - low > before - before / 4 { badRounds += 1 }
        }
        return base[k]
    }

    /// Which entries are the `k` lowest of `scores`, ties broken by lower index (the order of a
    /// stable ascending sort): every value `< threshold` is chosen, and of the values equal to
    /// `threshold`, the first `tiesChosen` in index order.
    public struct Threshold: Sendable, Equatable {
        /// The value of rank `k − 1`, the largest chosen value.
        public var value: Float
        /// How many entries equal to `value` are chosen, counted from the lowest index.
        public var tiesChosen: Int
    }

    /// The threshold that chooses exactly the `k` lowest of `scores[0..<n]` (ties by lower
    /// index), or nil when `k == 0`. `scratch` must hold `n` floats; it is overwritten.
    public static func lowest(_ k: Int, of scores: UnsafePointer<Float>, count n: Int,
                              scratch: UnsafeMutablePointer<Float>) -> Threshold? {
        precondition(k >= 0 && k <= n, "cannot choose \(k) of \(n)")
        guard k > 0 else { return nil }
        scratch.update(from: scores, count: n)
        let value = kthSmallest(UnsafeMutableBufferPointer(start: scratch, count: n), rank: k - 1)
        var below = 0
        for i in 0..<n where scores[i] < value { below += 1 }
        return Threshold(value: value, tiesChosen: k - below)
    }

    @inline(__always)
    static func swapAt(_ p: UnsafeMutablePointer<Float>, _ a: Int, _ b: Int) {
        let t = p[a]
        p[a] = p[b]
        p[b] = t
    }
}
