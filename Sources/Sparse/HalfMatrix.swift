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

    /// `y = W · x`; rows split evenly over `threads`.
    public func multiply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, kernel: SparseKernel? = nil,
                         threads: ComputeThreads = .single) {
        let kernel = kernel ?? SparseKernel.bestDense
        let (xs, ys, columns, type) = (SharedInput(x), SharedOutput(y), columns, valueType)
        bits.withUnsafeBufferPointer { w in
            let ws = SharedInput(w.baseAddress ?? UnsafePointer(bitPattern: 16)!)
            let split = rows * columns < SparseMatrix.minimumWeightsPerThread * 2 ? ComputeThreads.single : threads
            parallelFor(0..<rows, threads: split) { range in
                let (r0, r1) = (Int64(range.lowerBound), Int64(range.upperBound))
                switch kernel {
                case .avx512: csparse_dense_gemv16_avx512(ws.pointer, type.code, Int64(columns), xs.pointer, ys.pointer, r0, r1)
                case .avx2: csparse_dense_gemv16_avx2(ws.pointer, type.code, Int64(columns), xs.pointer, ys.pointer, r0, r1)
                case .reference:
                    for r in range {
                        var sum: Float = 0
                        for c in 0..<columns {
                            let h = ws.pointer[r * columns + c]
                            sum += (type == .bf16 ? HalfConversion.float(fromBFloat16: h) : HalfConversion.float(fromHalf: h)) * xs.pointer[c]
                        }
                        ys.pointer[r] = sum
                    }
                }
            }
        }
    }
}
