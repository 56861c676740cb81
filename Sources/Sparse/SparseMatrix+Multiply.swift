import CSparse
import Kernels
import TensorCore

extension SparseMatrix {
    /// Products with fewer weights than twice this run on one thread.
    public static let minimumWeightsPerThread = 1 << 20

    /// `y = W · x` (`x` `[columns]`, `y` `[rows]`) with `kernel`, rows split over `threads` in
    /// chunks of about equal non-zero count. The kernel must support this CPU and value type.
    public func multiply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                         kernel: SparseKernel? = nil, threads: ComputeThreads = .single) {
        let kernel = kernel ?? SparseKernel.best(for: valueType)
        precondition(kernel.supports(valueType), "the \(kernel) kernel does not run \(valueType) on this CPU")
        guard rows > 0 else { return }
        if kernel == .reference {
            referenceMultiply(x, into: y)
            return
        }
        // A fork-join costs tens of microseconds; a product under a few million weights is over
        // sooner on one thread (measured: SmolLM2-135M's 210 decode products took 9.2 ms on one
        // thread and 11.8 ms split over two on a Zen 4).
        let parts = rows * columns < Self.minimumWeightsPerThread * 2 ? 1 : max(1, min(threads.count, rows))
        let bounds = rowPartition(parts)
        let (xs, ys) = (SharedInput(x), SharedOutput(y))
        mask.withUnsafeBufferPointer { m in
            valueBytes.withUnsafeBufferPointer { v in
                rowOffsets.withUnsafeBufferPointer { o in
                    var matrix = csparse_matrix(mask: m.baseAddress, values: UnsafeRawPointer(v.baseAddress),
                                                offsets: o.baseAddress, rows: Int64(rows), cols: Int64(columns),
                                                stride: Int64(maskStride), type: valueType.code)
                    withUnsafePointer(to: &matrix) { mp in
                        let shared = SharedInput(mp)
                        parallelFor(0..<(bounds.count - 1), threads: ComputeThreads(parts)) { parts in
                            for part in parts {
                                let (r0, r1) = (Int64(bounds[part]), Int64(bounds[part + 1]))
                                guard r1 > r0 else { continue }
                                switch kernel {
                                case .avx512: csparse_gemv_avx512(shared.pointer, xs.pointer, ys.pointer, r0, r1)
                                case .avx2: csparse_gemv_avx2(shared.pointer, xs.pointer, ys.pointer, r0, r1)
                                case .reference: break
                                }
                            }
                        }
                    }
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
        var bounds = [0]
        var r = 0
        for part in 1..<max(parts, 1) {
            let goal = Int64(nonZeroCount * part / parts)
            while r < rows, rowOffsets[r] < goal { r += 1 }
            bounds.append(max(r, bounds.last!))
        }
        bounds.append(rows)
        return bounds
    }

    /// `Y = X · Wᵀ` for `X` `[tokens, columns]` (prefill): tiles of rows are expanded to dense
    /// `Float` and multiplied with BLAS, so prefill runs at GEMM speed; the result is `[tokens, rows]`.
    public func multiply(matrix x: Matrix, tileRows: Int = 256) -> Matrix {
        precondition(x.columns == columns, "sparse GEMM: input has \(x.columns) features, expected \(columns)")
        var y = Matrix(rows: x.rows, columns: rows)
        guard x.rows > 0, rows > 0, columns > 0 else { return y }
        var tile = [Float](repeating: 0, count: min(tileRows, rows) * columns)
        var r0 = 0
        while r0 < rows {
            let r1 = min(rows, r0 + tileRows)
            expand(rows: r0..<r1, into: &tile)
            x.storage.withUnsafeBufferPointer { xb in
                tile.withUnsafeBufferPointer { tb in
                    y.storage.withUnsafeMutableBufferPointer { yb in
                        GEMM.multiply(transposeA: false, transposeB: true, m: x.rows, n: r1 - r0, k: columns,
                                      a: xb.baseAddress!, lda: columns, b: tb.baseAddress!, ldb: columns, beta: 0,
                                      c: yb.baseAddress! + r0, ldc: rows)
                    }
                }
            }
            r0 = r1
        }
        return y
    }

    /// Rows `range` as dense `Float`, row-major, into the front of `buffer`.
    func expand(rows range: Range<Int>, into buffer: inout [Float]) {
        let stride = maskStride
        for (i, r) in range.enumerated() {
            var index = Int(rowOffsets[r])
            let base = i * columns
            for c in 0..<columns { buffer[base + c] = 0 }
            for byte in 0..<stride {
                var bits = mask[r * stride + byte]
                while bits != 0 {
                    buffer[base + byte * 8 + bits.trailingZeroBitCount] = value(at: index)
                    index += 1
                    bits &= bits - 1
                }
            }
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
