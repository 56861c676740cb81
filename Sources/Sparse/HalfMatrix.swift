import CSparse
import Kernels
import TensorCore

/// A dense matrix of 16-bit values (f16 or bf16), row-major: the dense baseline of the same value
/// type that sparse products are measured against.
public struct HalfMatrix: Sendable {
    public let rows: Int
    public let columns: Int
    public let valueType: SparseValueType
    public let bits: [UInt16]

    /// `dense` rounded to `valueType` (`.f16` or `.bf16`).
    public init(_ dense: Matrix, valueType: SparseValueType) {
        precondition(valueType != .f32, "HalfMatrix holds f16 or bf16")
        rows = dense.rows
        columns = dense.columns
        self.valueType = valueType
        bits = dense.storage.map { valueType == .bf16 ? HalfConversion.bfloat16(from: $0) : HalfConversion.half(from: $0) }
    }

    public var bytes: Int { bits.count * 2 }

    /// `y = W · x`; rows split evenly over `threads` (the ``WorkerPool``).
    public func multiply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, kernel: SparseKernel? = nil,
                         threads: ComputeThreads = .single) {
        let kernel = kernel ?? SparseKernel.bestDense
        let (columns, type) = (columns, valueType)
        bits.withUnsafeBufferPointer { w in
            let w = w.baseAddress ?? UnsafePointer(bitPattern: 16)!
            let parts = chunkCount(weights: rows * columns, rows: rows, threads: threads)
            forEachChunk(parts, threads: threads) { part in
                let (r0, r1) = (rows * part / parts, rows * (part + 1) / parts)
                switch kernel {
                case .avx512: csparse_dense_gemv16_avx512(w, type.code, Int64(columns), x, y, Int64(r0), Int64(r1))
                case .avx2: csparse_dense_gemv16_avx2(w, type.code, Int64(columns), x, y, Int64(r0), Int64(r1))
                case .reference:
                    for r in r0..<r1 {
                        var sum: Float = 0
                        for c in 0..<columns {
                            let h = w[r * columns + c]
                            sum += (type == .bf16 ? HalfConversion.float(fromBFloat16: h) : HalfConversion.float(fromHalf: h)) * x[c]
                        }
                        y[r] = sum
                    }
                }
            }
        }
    }

    /// `y = x · Wᵀ` for `x` `[count, columns]`, `y` `[count, rows]` (prefill): tiles of rows are
    /// widened to `Float` and multiplied with BLAS.
    public func multiply(tokens x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>,
                         kernel: SparseKernel? = nil) {
        let kernel = kernel ?? SparseKernel.bestDense
        TiledProduct.multiply(x, tokens: count, rows: rows, columns: columns, into: y) { range, tile in
            expand(rows: range, into: tile, kernel: kernel)
        }
    }

    /// Rows `range` widened to `Float` (`[range.count, columns]`) into `buffer`.
    public func expand(rows range: Range<Int>, into buffer: UnsafeMutablePointer<Float>, kernel: SparseKernel? = nil) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "expand: rows \(range) of \(rows)")
        let kernel = kernel ?? SparseKernel.bestDense
        let count = range.count * columns
        guard count > 0 else { return }
        bits.withUnsafeBufferPointer { w in
            let first = w.baseAddress! + range.lowerBound * columns
            if kernel == .reference {
                for i in 0..<count {
                    buffer[i] = valueType == .bf16 ? HalfConversion.float(fromBFloat16: first[i]) : HalfConversion.float(fromHalf: first[i])
                }
            } else {
                csparse_widen16_avx2(first, valueType.code, Int64(count), buffer)
            }
        }
    }
}
