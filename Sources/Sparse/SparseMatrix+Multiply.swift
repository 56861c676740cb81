import CSparse
import Synchronization
import Kernels
import TensorCore

extension SparseMatrix {
    /// Products with fewer weights than twice this run on one thread.
    public static let minimumWeightsPerThread = 1 << 14

    /// `y = W · x` (`x` `[columns]`, `y` `[rows]`) with `kernel`, rows split over `threads` (the
    /// ``WorkerPool``) in chunks of about equal non-zero count. The kernel must support this CPU
    /// and value type.
    public func multiply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                         kernel: SparseKernel? = nil, threads: ComputeThreads = .single) {
        let kernel = kernel ?? SparseKernel.best(for: valueType)
        precondition(kernel.supports(valueType), "the \(kernel) kernel does not run \(valueType) on this CPU")
        guard rows > 0 else { return }
        if kernel == .reference {
            referenceMultiply(x, into: y)
            return
        }
        let parts = chunkCount(weights: rows * columns, rows: rows, threads: threads)
        let bounds = rowPartition(parts)
        withKernelMatrix { m in
            forEachChunk(parts, threads: threads) { part in
                let (r0, r1) = (Int64(bounds[part]), Int64(bounds[part + 1]))
                guard r1 > r0 else { return }
                switch kernel {
                case .avx512: csparse_gemv_avx512(m, x, y, r0, r1)
                case .avx2: csparse_gemv_avx2(m, x, y, r0, r1)
                case .reference: break
                }
            }
        }
    }

    /// `W · x` as a new array.
    public func multiply(_ x: [Float], kernel: SparseKernel? = nil, threads: ComputeThreads = .single) -> [Float] {
        precondition(x.count == columns, "sparse GEMV: vector has \(x.count) values, expected \(columns)")
        var y = [Float](repeating: 0, count: rows)
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                guard let xp = xb.baseAddress ?? UnsafePointer(bitPattern: 16), let yp = yb.baseAddress else { return }
                multiply(xp, into: yp, kernel: kernel, threads: threads)
            }
        }
        return y
    }

    /// The reference twin of the kernels: walks each row's mask bits in column order and sums
    /// `value · x[c]` in `Float`.
    public func referenceMultiply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let stride = maskStride
        for r in 0..<rows {
            var index = Int(rowOffsets[r])
            var sum: Float = 0
            for byte in 0..<stride {
                var bits = mask[r * stride + byte]
                while bits != 0 {
                    let b = bits.trailingZeroBitCount
                    sum += value(at: index) * x[byte * 8 + b]
                    index += 1
                    bits &= bits - 1
                }
            }
            y[r] = sum
        }
    }

    /// Row boundaries `[0, …, rows]` of `parts` chunks holding about equal numbers of non-zeros
    /// (a thread's work is its non-zeros, not its rows).
    public func rowPartition(_ parts: Int) -> [Int] {
        partitionRows(offsets: rowOffsets, total: Int64(nonZeroCount), parts: parts)
    }

    /// `Y = X · Wᵀ` for `X` `[tokens, columns]` (prefill): tiles of rows are expanded to dense
    /// `Float` and multiplied with BLAS, so prefill runs at GEMM speed; the result is `[tokens, rows]`.
    public func multiply(matrix x: Matrix, kernel: SparseKernel? = nil) -> Matrix {
        precondition(x.columns == columns, "sparse GEMM: input has \(x.columns) features, expected \(columns)")
        var y = Matrix(rows: x.rows, columns: rows)
        x.storage.withUnsafeBufferPointer { xb in
            y.storage.withUnsafeMutableBufferPointer { yb in
                guard let xp = xb.baseAddress, let yp = yb.baseAddress else { return }
                multiply(tokens: xp, count: x.rows, into: yp, kernel: kernel)
            }
        }
        return y
    }

    /// `y = x · Wᵀ` for `x` `[count, columns]`, `y` `[count, rows]` (prefill of `count` tokens).
    public func multiply(tokens x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>,
                         kernel: SparseKernel? = nil) {
        let kernel = kernel ?? SparseKernel.best(for: valueType)
        precondition(kernel.supports(valueType), "the \(kernel) kernel does not run \(valueType) on this CPU")
        TiledProduct.multiply(x, tokens: count, rows: rows, columns: columns, into: y) { range, tile in
            expand(rows: range, into: tile, kernel: kernel)
        }
    }

    /// Rows `range` as dense `Float`, row-major (`[range.count, columns]`), into `buffer`.
    public func expand(rows range: Range<Int>, into buffer: UnsafeMutablePointer<Float>, kernel: SparseKernel? = nil) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "expand: rows \(range) of \(rows)")
        let kernel = kernel ?? SparseKernel.best(for: valueType)
        guard !range.isEmpty, columns > 0 else { return }
        if kernel == .reference {
            referenceExpand(rows: range, into: buffer)
            return
        }
        withKernelMatrix { m in
            let (r0, r1) = (Int64(range.lowerBound), Int64(range.upperBound))
            if kernel == .avx512 { csparse_expand_avx512(m, buffer, r0, r1) } else { csparse_expand_avx2(m, buffer, r0, r1) }
        }
    }

    /// The reference twin of the expand kernels.
    public func referenceExpand(rows range: Range<Int>, into buffer: UnsafeMutablePointer<Float>) {
        let stride = maskStride
        for (i, r) in range.enumerated() {
            var index = Int(rowOffsets[r])
            let row = buffer + i * columns
            row.update(repeating: 0, count: columns)
            for byte in 0..<stride {
                var bits = mask[r * stride + byte]
                while bits != 0 {
                    row[byte * 8 + bits.trailingZeroBitCount] = value(at: index)
                    index += 1
                    bits &= bits - 1
                }
            }
        }
    }

    /// The C kernels' view of this matrix, valid inside `body`.
    func withKernelMatrix<R>(_ body: (UnsafePointer<csparse_matrix>) -> R) -> R {
        mask.withUnsafeBufferPointer { m in
            valueBytes.withUnsafeBufferPointer { v in
                rowOffsets.withUnsafeBufferPointer { o in
                    var matrix = csparse_matrix(mask: m.baseAddress, values: UnsafeRawPointer(v.baseAddress),
                                                offsets: o.baseAddress, rows: Int64(rows), cols: Int64(columns),
                                                stride: Int64(maskStride), type: valueType.code)
                    return withUnsafePointer(to: &matrix) { body($0) }
                }
            }
        }
    }
}

/// Row boundaries `[0, …, rows]` of `parts` chunks of about equal work, for rows whose work starts
/// at `offsets[r]` (an exclusive prefix sum ending below `total`): rows with much work go in
/// smaller chunks.
func partitionRows(offsets: [Int64], total: Int64, parts: Int) -> [Int] {
    var bounds = [0]
    var r = 0
    for part in 1..<max(parts, 1) {
        let goal = total * Int64(part) / Int64(parts)
        while r < offsets.count, offsets[r] < goal { r += 1 }
        bounds.append(max(r, bounds.last!))
    }
    bounds.append(offsets.count)
    return bounds
}

/// `y = x · Wᵀ` for a weight matrix that is not stored as dense `Float` (sparse, 16-bit): tiles of
/// its rows are expanded to `Float` and multiplied with BLAS's GEMM, so a prefill of many tokens
/// runs at GEMM speed whatever the storage.
public enum TiledProduct {
    /// Floats per expanded tile (16 MiB), at least 16 rows: large tiles keep the GEMMs large
    /// (with 1 MiB tiles the sparse prefill of Qwen2.5-1.5B ran at 0.44× dense on a Zen 4).
    static let tileFloats = 1 << 22

    /// `x` `[tokens, columns]`, `y` `[tokens, rows]`; `expand(range, tile)` writes rows `range` of
    /// the weight, dense, to `tile`. The GEMM runs on OpenBLAS's threads.
    public static func multiply(_ x: UnsafePointer<Float>, tokens: Int, rows: Int, columns: Int,
                                into y: UnsafeMutablePointer<Float>,
                                expand: (Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
        guard tokens > 0, rows > 0 else { return }
        guard columns > 0 else {
            y.update(repeating: 0, count: tokens * rows)
            return
        }
        let tileRows = min(rows, max(16, tileFloats / columns))
        let tile = Scratch.take(tileRows * columns)
        defer { Scratch.give(tile) }
        for r0 in stride(from: 0, to: rows, by: tileRows) {
            let r1 = min(rows, r0 + tileRows)
            // Expanding on the worker pool as well measured 2.7× slower prefill on a Zen 4: its
            // spinning thread and OpenBLAS's compete for the cores.
            expand(r0..<r1, tile.pointer)
            GEMM.multiply(transposeA: false, transposeB: true, m: tokens, n: r1 - r0, k: columns,
                          a: x, lda: columns, b: tile.pointer, ldb: columns, beta: 0, c: y + r0, ldc: rows)
        }
    }

    /// One tile buffer kept between products (a fresh 16 MiB allocation per product costs its
    /// page faults every time); a concurrent caller gets its own.
    struct Scratch: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<Float>
        let count: Int

        private static let spare = Mutex<Scratch?>(nil)

        static func take(_ count: Int) -> Scratch {
            if let kept = spare.withLock({ spare -> Scratch? in defer { spare = nil }; return spare }) {
                if kept.count >= count { return kept }
                kept.pointer.deallocate()
            }
            return Scratch(pointer: .allocate(capacity: count), count: count)
        }

        static func give(_ scratch: Scratch) {
            let extra = spare.withLock { spare -> Scratch? in
                if spare == nil { spare = scratch; return nil }
                return scratch
            }
            extra?.pointer.deallocate()
        }
    }
}

/// A pointer handed to the threads of one product (each writes only its own rows).
struct SharedOutput: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}

struct SharedInput<T>: @unchecked Sendable {
    let pointer: UnsafePointer<T>
    init(_ pointer: UnsafePointer<T>) { self.pointer = pointer }
}
