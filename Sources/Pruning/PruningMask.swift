/// Which weights of a `[rows, columns]` matrix a pruner removed: one bit per weight, row-major,
/// each row padded to whole 64-bit words (so rows can be written concurrently).
///
/// The mask records the pruner's choice, independent of the values: a weight that was already
/// zero and was not chosen is not in the mask. ``SparsityVerifier`` checks the mask's counts
/// exactly and that the weight is zero wherever the mask is set.
public struct PruningMask: Sendable, Equatable {
    /// Output features of the matrix.
    public let rows: Int
    /// Input features of the matrix.
    public let columns: Int
    let wordsPerRow: Int
    var words: [UInt64]   // [rows, wordsPerRow]

    /// An empty mask (nothing pruned).
    public init(rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
        wordsPerRow = (columns + 63) / 64
        words = [UInt64](repeating: 0, count: rows * wordsPerRow)
    }

    /// Whether weight `(r, c)` was pruned.
    public subscript(r: Int, c: Int) -> Bool {
        words[r * wordsPerRow + c >> 6] >> UInt64(c & 63) & 1 == 1
    }

    /// Marks weight `(r, c)` as pruned.
    public mutating func insert(row r: Int, column c: Int) {
        words[r * wordsPerRow + c >> 6] |= 1 << UInt64(c & 63)
    }

    /// Number of pruned weights in the whole matrix.
    public var prunedCount: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// Number of pruned weights in row `r`, columns `range`.
    public func prunedCount(row r: Int, columns range: Range<Int>) -> Int {
        var count = 0
        for c in range where self[r, c] { count += 1 }
        return count
    }

    /// Number of pruned weights in row `r`.
    public func prunedCount(row r: Int) -> Int {
        words[(r * wordsPerRow)..<((r + 1) * wordsPerRow)].reduce(0) { $0 + $1.nonzeroBitCount }
    }

    /// Sets `(r, c)` in a mask's word storage through a pointer (for concurrent row writers).
    @inline(__always)
    static func insert(_ words: UnsafeMutablePointer<UInt64>, wordsPerRow: Int, row r: Int, column c: Int) {
        words[r * wordsPerRow + c >> 6] |= 1 << UInt64(c & 63)
    }

    @inline(__always)
    static func contains(_ words: UnsafePointer<UInt64>, wordsPerRow: Int, row r: Int, column c: Int) -> Bool {
        words[r * wordsPerRow + c >> 6] >> UInt64(c & 63) & 1 == 1
    }
}

/// Pointers shared by the row chunks of a `parallelFor`; each chunk writes only its own rows.
struct SharedPointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
}
