/// A dense row-major matrix of `Float`: element `(r, c)` lives at `storage[r * columns + c]`.
///
/// This is the one layout of the project (written down here once): activations are
/// `[tokens, features]`, linear weights are `[out, in]` as in Hugging Face checkpoints, so a
/// linear layer computes `y = x · Wᵀ`. A vector is a matrix with one row.
public struct Matrix: Sendable, Equatable {
    /// Number of rows.
    public let rows: Int
    /// Number of columns (the contiguous dimension).
    public let columns: Int
    /// Row-major values, `rows * columns` of them.
    public var storage: [Float]

    /// A matrix of zeros. `[rows, columns]`
    public init(rows: Int, columns: Int) {
        precondition(rows >= 0 && columns >= 0, "matrix dimensions must be non-negative")
        self.rows = rows
        self.columns = columns
        self.storage = [Float](repeating: 0, count: rows * columns)
    }

    /// A matrix over existing row-major values; `storage.count` must equal `rows * columns`.
    public init(rows: Int, columns: Int, storage: [Float]) {
        precondition(storage.count == rows * columns,
                     "matrix storage has \(storage.count) values, expected \(rows) × \(columns)")
        self.rows = rows
        self.columns = columns
        self.storage = storage
    }

    /// Number of elements, `rows * columns`.
    @inlinable public var count: Int { rows * columns }

    /// Element at row `r`, column `c`.
    @inlinable public subscript(r: Int, c: Int) -> Float {
        get { storage[r * columns + c] }
        set { storage[r * columns + c] = newValue }
    }

    /// A copy of row `r`. `[columns]`
    public func row(_ r: Int) -> [Float] {
        Array(storage[(r * columns)..<((r + 1) * columns)])
    }

    /// The transpose. `[columns, rows]`
    public func transposed() -> Matrix {
        var t = Matrix(rows: columns, columns: rows)
        for r in 0..<rows {
            for c in 0..<columns { t.storage[c * rows + r] = storage[r * columns + c] }
        }
        return t
    }
}
