import COpenBLAS
import TensorCore

/// Matrix products through OpenBLAS `sgemm`, for the row-major layout of `Matrix`.
///
/// Letters: `T` tokens (rows of activations), `in`/`out` a linear layer's input and output
/// sizes; `m, n, k` the general product `C[m, n] = op(A)[m, k] · op(B)[k, n]`. A linear weight
/// is `[out, in]` (Hugging Face layout), so a linear layer is `Y = X · Wᵀ`.
///
/// The pointer forms take caller-owned buffers (the forward pass's preallocated scratch); the
/// `Matrix` forms are conveniences over them. Threads: OpenBLAS's own count
/// (`ComputeThreads.applyToBLAS()`).
public enum GEMM {
    /// General product `C = α · op(A) · op(B) + β · C`, row-major, where `op(A)` is `[m, k]`
    /// (A stored `[m, k]`, or `[k, m]` when `transposeA`) and `op(B)` is `[k, n]` (B stored
    /// `[k, n]`, or `[n, k]` when `transposeB`). `lda`, `ldb`, `ldc` are the row strides of the
    /// stored matrices. With `k == 0` this scales C by β.
    public static func multiply(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "negative GEMM dimension m=\(m) n=\(n) k=\(k)")
        precondition(lda >= (transposeA ? m : k) && ldb >= (transposeB ? k : n) && ldc >= n,
                     "GEMM leading dimension too small")
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            for i in 0..<m { scale(c + i * ldc, count: n, by: beta) }
            return
        }
        cblas_sgemm(CblasRowMajor,
                    transposeA ? CblasTrans : CblasNoTrans,
                    transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(max(1, lda)), b, Int32(max(1, ldb)),
                    beta, c, Int32(max(1, ldc)))
    }

    /// Linear layer `Y = X · Wᵀ + bias`, or `Y += X · Wᵀ + bias` when `accumulate`.
    ///
    /// - Parameters:
    ///   - x: input, `[tokens, inputSize]`, contiguous rows.
    ///   - weight: `[outputSize, inputSize]`, contiguous rows.
    ///   - bias: `[outputSize]`, added to every row, or nil.
    ///   - y: output, `[tokens, outputSize]`, contiguous rows; must not overlap `x` or `weight`.
    public static func linear(
        input x: UnsafePointer<Float>, tokens: Int, inputSize: Int,
        weight: UnsafePointer<Float>, outputSize: Int, bias: UnsafePointer<Float>? = nil,
        output y: UnsafeMutablePointer<Float>, accumulate: Bool = false
    ) {
        let beta: Float = startFromBias(bias, output: y, tokens: tokens, outputSize: outputSize, accumulate: accumulate) ? 1 : 0
        multiply(transposeA: false, transposeB: true, m: tokens, n: outputSize, k: inputSize,
                 a: x, lda: inputSize, b: weight, ldb: inputSize, beta: beta, c: y, ldc: outputSize)
    }

    /// The tiles ``linear(input:tokens:inputSize:weight:outputSize:bias:output:accumulate:threads:)``
    /// cuts a `[tokens, out]` product into: up to 512 rows (a quarter of the rows, in multiples of
    /// 16, so short inputs still make several tiles) by up to 1,024 columns. A function of the shape
    /// only, never of the thread count. (512 × 1,024 measured best of 128–1,024 × 512–2,048 on
    /// SmolLM2-135M's linears at 2,048 tokens, Zen 4.)
    public static func linearTile(tokens: Int, outputSize: Int) -> (rows: Int, columns: Int) {
        (rows: min(512, max(16, ((tokens + 3) / 4 + 15) / 16 * 16)), columns: min(1024, outputSize))
    }

    /// The linear layer of ``linear(input:tokens:inputSize:weight:outputSize:bias:output:accumulate:)``
    /// on our own threads: the output is cut into the tiles of ``productTile(m:n:)`` (whatever
    /// the thread count), each one single-threaded `sgemm` call, dealt to `threads`. A tile's call is
    /// the same whichever thread makes it, so the result does not depend on `threads` nor on
    /// OpenBLAS's process-wide count.
    public static func linear(
        input x: UnsafePointer<Float>, tokens: Int, inputSize: Int,
        weight: UnsafePointer<Float>, outputSize: Int, bias: UnsafePointer<Float>? = nil,
        output y: UnsafeMutablePointer<Float>, accumulate: Bool = false, threads: ComputeThreads
    ) {
        guard tokens > 0, outputSize > 0 else { return }
        let beta: Float = startFromBias(bias, output: y, tokens: tokens, outputSize: outputSize, accumulate: accumulate) ? 1 : 0
        multiply(transposeA: false, transposeB: true, m: tokens, n: outputSize, k: inputSize,
                 a: x, lda: inputSize, b: weight, ldb: inputSize, beta: beta, c: y, ldc: outputSize, threads: threads)
    }

    /// The tiles ``multiply(transposeA:transposeB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:threads:)``
    /// cuts `C[m, n]` into: those of ``linearTile(tokens:outputSize:)``, except that a product of
    /// at least four 1,024-column tiles keeps up to 512 rows per tile: there the columns alone
    /// give the threads enough tiles, and short tiles would pack each 1,024-column panel of B
    /// again for a few rows (the cross-entropy's `[64, vocab]` chunks ran at a fraction of the
    /// GEMM peak cut into 16-row tiles).
    public static func productTile(m: Int, n: Int) -> (rows: Int, columns: Int) {
        let tile = linearTile(tokens: m, outputSize: n)
        return n >= 4 * tile.columns ? (rows: min(512, m), columns: tile.columns) : tile
    }

    /// The general product of ``multiply(transposeA:transposeB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)``
    /// on our own threads: C is cut into the tiles of ``productTile(m:n:)`` (a function of the
    /// shape only), each one single-threaded `sgemm`
    /// call over the whole `k`, dealt to `threads`. The result does not depend on `threads` nor on
    /// OpenBLAS's process-wide count; with one thread the tiles run in order on the calling thread.
    public static func multiply(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: ComputeThreads
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "negative GEMM dimension m=\(m) n=\(n) k=\(k)")
        guard m > 0, n > 0 else { return }
        let tile = productTile(m: m, n: n)
        let (rowTiles, columnTiles) = ((m + tile.rows - 1) / tile.rows, (n + tile.columns - 1) / tile.columns)
        let (aa, ba, ca) = (UInt(bitPattern: a), UInt(bitPattern: b), UInt(bitPattern: c))
        let work: @Sendable (Range<Int>) -> Void = { range in
            for index in range {
                let r0 = index / columnTiles * tile.rows, c0 = index % columnTiles * tile.columns
                let rows = min(tile.rows, m - r0), columns = min(tile.columns, n - c0)
                let a = UnsafePointer<Float>(bitPattern: aa)!, b = UnsafePointer<Float>(bitPattern: ba)!
                multiply(transposeA: transposeA, transposeB: transposeB, m: rows, n: columns, k: k, alpha: alpha,
                         a: transposeA ? a + r0 : a + r0 * lda, lda: lda,
                         b: transposeB ? b + c0 * ldb : b + c0, ldb: ldb, beta: beta,
                         c: UnsafeMutablePointer<Float>(bitPattern: ca)! + r0 * ldc + c0, ldc: ldc)
            }
        }
        BLASRuntime.singleThreaded { parallelFor(0..<rowTiles * columnTiles, threads: threads, work) }
    }

    /// Starts a linear layer's output from its bias: copies `bias` into every row of `y`
    /// (`[tokens, outputSize]`), or adds it when `accumulate`; one pass over Y, so the product that
    /// follows adds to it. Returns whether the product must accumulate (β = 1).
    static func startFromBias(_ bias: UnsafePointer<Float>?, output y: UnsafeMutablePointer<Float>, tokens: Int,
                              outputSize: Int, accumulate: Bool) -> Bool {
        guard let bias else { return accumulate }
        for t in 0..<tokens {
            let row = y + t * outputSize
            if accumulate {
                for j in 0..<outputSize { row[j] += bias[j] }
            } else {
                row.update(from: bias, count: outputSize)
            }
        }
        return true
    }

    /// Linear layer `Y = X · Wᵀ + bias`. `x` is `[T, in]`, `weight` `[out, in]`, `bias` `[out]`;
    /// the result is `[T, out]`.
    public static func linear(_ x: Matrix, weight: Matrix, bias: [Float]? = nil) -> Matrix {
        var y = Matrix(rows: x.rows, columns: weight.rows)
        linear(x, weight: weight, bias: bias, into: &y)
        return y
    }

    /// Linear layer into an existing `[T, out]` matrix: `Y = X · Wᵀ + bias`, or
    /// `Y += X · Wᵀ + bias` when `accumulate`.
    public static func linear(_ x: Matrix, weight: Matrix, bias: [Float]? = nil,
                              into y: inout Matrix, accumulate: Bool = false) {
        precondition(x.columns == weight.columns,
                     "linear: input has \(x.columns) features, weight expects \(weight.columns)")
        precondition(y.rows == x.rows && y.columns == weight.rows,
                     "linear: output is [\(y.rows), \(y.columns)], expected [\(x.rows), \(weight.rows)]")
        precondition(bias.map { $0.count == weight.rows } ?? true, "linear: bias length mismatch")
        guard y.count > 0 else { return }
        let (tokens, inputSize, outputSize) = (x.rows, x.columns, weight.rows)
        x.storage.withUnsafeBufferPointer { xb in
            weight.storage.withUnsafeBufferPointer { wb in
                y.storage.withUnsafeMutableBufferPointer { yb in
                    guard let yp = yb.baseAddress else { return }
                    guard let xp = xb.baseAddress, let wp = wb.baseAddress else {
                        // inputSize == 0: the product is empty, only the bias remains.
                        withOptionalPointer(bias) { bp in
                            linearBiasOnly(tokens: tokens, outputSize: outputSize, bias: bp,
                                           output: yp, accumulate: accumulate)
                        }
                        return
                    }
                    withOptionalPointer(bias) { bp in
                        linear(input: xp, tokens: tokens, inputSize: inputSize, weight: wp,
                               outputSize: outputSize, bias: bp, output: yp, accumulate: accumulate)
                    }
                }
            }
        }
    }

    /// General product of matrices: `op(A) · op(B)`, where `op` transposes when asked.
    /// `op(A)` must be `[m, k]` and `op(B)` `[k, n]`; the result is `[m, n]`.
    public static func multiply(_ a: Matrix, _ b: Matrix,
                                transposeA: Bool = false, transposeB: Bool = false) -> Matrix {
        let m = transposeA ? a.columns : a.rows
        let k = transposeA ? a.rows : a.columns
        let kb = transposeB ? b.columns : b.rows
        let n = transposeB ? b.rows : b.columns
        precondition(k == kb, "multiply: inner dimensions differ (\(k) vs \(kb))")
        var c = Matrix(rows: m, columns: n)
        guard m > 0, n > 0, k > 0 else { return c }
        a.storage.withUnsafeBufferPointer { ab in
            b.storage.withUnsafeBufferPointer { bb in
                c.storage.withUnsafeMutableBufferPointer { cb in
                    guard let ap = ab.baseAddress, let bp = bb.baseAddress, let cp = cb.baseAddress else { return }
                    multiply(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                             a: ap, lda: a.columns, b: bp, ldb: b.columns, beta: 0, c: cp, ldc: n)
                }
            }
        }
        return c
    }

    static func scale(_ p: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
        if factor == 0 {
            p.update(repeating: 0, count: count)
        } else if factor != 1 {
            for i in 0..<count { p[i] *= factor }
        }
    }

    static func linearBiasOnly(tokens: Int, outputSize: Int, bias: UnsafePointer<Float>?,
                               output y: UnsafeMutablePointer<Float>, accumulate: Bool) {
        for t in 0..<tokens {
            let row = y + t * outputSize
            if !accumulate { row.update(repeating: 0, count: outputSize) }
            if let bias { for j in 0..<outputSize { row[j] += bias[j] } }
        }
    }
}

/// Calls `body` with a pointer to `values`' storage, or nil when `values` is nil or empty.
@inline(__always)
func withOptionalPointer<R>(_ values: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let values else { return body(nil) }
    return values.withUnsafeBufferPointer { body($0.baseAddress) }
}
