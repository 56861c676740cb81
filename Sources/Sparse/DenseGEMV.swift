import CSparse
import Kernels

/// `y = W · x` for a dense row-major `Float` matrix with this module's vector kernels, rows split
/// over the ``WorkerPool``: the dense f32 decode path (OpenBLAS `sgemv` reached 14 GB/s on these
/// shapes on a Zen 4, the plain memory read 31 GB/s; see `dlp bench sparse`).
public enum DenseGEMV {
    public static func multiply(_ w: UnsafePointer<Float>, rows: Int, columns: Int, x: UnsafePointer<Float>,
                                into y: UnsafeMutablePointer<Float>, kernel: SparseKernel? = nil,
                                threads: ComputeThreads = .single) {
        let kernel = kernel ?? SparseKernel.bestDense
        guard rows > 0 else { return }
        let parts = chunkCount(weights: rows * columns, rows: rows, threads: threads)
        forEachChunk(parts, threads: threads) { part in
            let (r0, r1) = (rows * part / parts, rows * (part + 1) / parts)
            switch kernel {
            case .avx512: csparse_dense_gemv32_avx512(w, Int64(columns), x, y, Int64(r0), Int64(r1))
            case .avx2: csparse_dense_gemv32_avx2(w, Int64(columns), x, y, Int64(r0), Int64(r1))
            case .reference:
                for r in r0..<r1 {
                    var sum: Float = 0
                    for c in 0..<columns { sum += w[r * columns + c] * x[c] }
                    y[r] = sum
                }
            }
        }
    }
}
