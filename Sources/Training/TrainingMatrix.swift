import TensorCore

/// A dense row-major matrix of a ``TrainingScalar``: element `(r, c)` at `storage[r * columns + c]`.
///
/// The layout of `TensorCore.Matrix` (activations `[tokens, features]`, linear weights `[out, in]`,
/// `y = x · Wᵀ`) in the precision of the training pass: `Matrix` holds Float only, and the
/// gradient checks run the same code in Double. ``init(_:)`` and ``matrix`` convert; for Float the
/// storage is shared, not copied.
public struct TrainingMatrix<Scalar: TrainingScalar>: Sendable, Equatable {
    /// Number of rows.
    public let rows: Int
    /// Number of columns (the contiguous dimension).
    public let columns: Int
    /// Row-major values, `rows * columns` of them.
    public var storage: [Scalar]

    /// A matrix of zeros. `[rows, columns]`
    public init(rows: Int, columns: Int) {
        precondition(rows >= 0 && columns >= 0, "matrix dimensions must be non-negative")
        self.rows = rows
        self.columns = columns
        storage = [Scalar](repeating: 0, count: rows * columns)
    }

    /// A matrix over existing row-major values; `storage.count` must equal `rows * columns`.
    public init(rows: Int, columns: Int, storage: [Scalar]) {
        precondition(storage.count == rows * columns, "matrix storage has \(storage.count) values, expected \(rows) × \(columns)")
        self.rows = rows
        self.columns = columns
        self.storage = storage
    }

    /// A Float matrix in this precision (shared storage for Float).
    public init(_ matrix: Matrix) {
        self.init(rows: matrix.rows, columns: matrix.columns, storage: Scalar.converting(matrix.storage))
    }

    /// The values rounded to a Float `Matrix`.
    public var matrix: Matrix { Matrix(rows: rows, columns: columns, storage: Scalar.floats(storage)) }

    /// Number of elements.
    @inlinable public var count: Int { rows * columns }

    /// Element at row `r`, column `c`.
    @inlinable public subscript(r: Int, c: Int) -> Scalar {
        get { storage[r * columns + c] }
        set { storage[r * columns + c] = newValue }
    }

    /// Sets every entry where `mask` (same shape) is zero to zero, and with `adding` adds
    /// `mask` to the others: `self ⊙ [mask ≠ 0] (+ mask)`.
    mutating func keepNonZeros(of mask: TrainingMatrix, adding: Bool) {
        combine(mask, "mask") { target, source, range in
            for i in range {
                let w = source[i]
                target[i] = w == 0 ? 0 : (adding ? w + target[i] : target[i])
            }
        }
    }

    /// `self += other`, element by element (same shape).
    public mutating func add(_ other: TrainingMatrix) {
        combine(other, "add") { target, source, range in
            for i in range { target[i] += source[i] }
        }
    }

    /// Runs `body(self, other, range)` over chunks of the elements on the training threads;
    /// `body` writes only `self`'s entries in its range.
    private mutating func combine(_ other: TrainingMatrix, _ name: String,
                                  _ body: @Sendable (SharedPointer<Scalar>, SharedPointer<Scalar>, Range<Int>) -> Void) {
        precondition(rows == other.rows && columns == other.columns, "\(name): [\(rows), \(columns)] and [\(other.rows), \(other.columns)]")
        other.storage.withUnsafeBufferPointer { ob in
            storage.withUnsafeMutableBufferPointer { sb in
                guard let op = ob.baseAddress, let sp = sb.baseAddress else { return }
                let (source, target) = (SharedPointer(op), SharedPointer(sp))
                TrainingParallel.forEach(sb.count, cost: sb.count) { body(target, source, $0) }
            }
        }
    }
}

/// Whole-matrix products over ``TrainingScalar/gemm(transposeA:transposeB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)``.
enum MatrixProduct {
    /// `C = α · op(A) · op(B) + β · C`: `op(A)` `[m, k]`, `op(B)` `[k, n]`, C `[m, n]` (given).
    static func multiply<S: TrainingScalar>(_ a: TrainingMatrix<S>, transposeA: Bool = false,
                                            _ b: TrainingMatrix<S>, transposeB: Bool = false,
                                            alpha: S = 1, beta: S = 0, into c: inout TrainingMatrix<S>) {
        let m = transposeA ? a.columns : a.rows, k = transposeA ? a.rows : a.columns
        let n = transposeB ? b.rows : b.columns
        precondition(k == (transposeB ? b.columns : b.rows), "multiply: inner dimensions differ")
        precondition(c.rows == m && c.columns == n, "multiply: result is [\(c.rows), \(c.columns)], expected [\(m), \(n)]")
        guard m > 0, n > 0 else { return }
        a.storage.withUnsafeBufferPointer { ab in
            b.storage.withUnsafeBufferPointer { bb in
                c.storage.withUnsafeMutableBufferPointer { cb in
                    S.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                           a: ab.baseAddress!, lda: max(1, a.columns), b: bb.baseAddress!, ldb: max(1, b.columns),
                           beta: beta, c: cb.baseAddress!, ldc: n)
                }
            }
        }
    }

    /// `op(A) · op(B)` as a new matrix.
    static func product<S: TrainingScalar>(_ a: TrainingMatrix<S>, transposeA: Bool = false,
                                           _ b: TrainingMatrix<S>, transposeB: Bool = false,
                                           alpha: S = 1) -> TrainingMatrix<S> {
        var c = TrainingMatrix<S>(rows: transposeA ? a.columns : a.rows, columns: transposeB ? b.rows : b.columns)
        multiply(a, transposeA: transposeA, b, transposeB: transposeB, alpha: alpha, into: &c)
        return c
    }
}
