import COpenBLAS
import Foundation
import Kernels

/// The number type of a training pass: `Float` for fine-tuning, `Double` for the gradient checks.
///
/// Why one generic implementation rather than a Float pass and a Double twin: a finite-difference
/// check is only worth something if it runs the code that trains. With the backward pass written
/// once over `TrainingScalar`, the Double check exercises every index, stride and formula of the
/// Float path; only the rounding differs. The big products still go to BLAS in both precisions
/// (`sgemm` for Float, `dgemm` for Double, through ``gemm(transposeA:transposeB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)``),
/// and the public entry points are specialised for both types (`@_specialize`), so the
/// element-wise loops run as concrete Float or Double code, not through protocol witnesses.
///
/// Threads: Float products run on our own threads over single-threaded `sgemm` calls, cut into
/// tiles by their shape (`GEMM.multiply(..., threads:)`), so a training step gives the same bits
/// with any thread count; see ``TrainingThreads``.
public protocol TrainingScalar: BinaryFloatingPoint, Codable, Sendable {
    /// `C = α · op(A) · op(B) + β · C`, row-major, `op(A)` `[m, k]` (stored `[k, m]` when
    /// `transposeA`), `op(B)` `[k, n]` (stored `[n, k]` when `transposeB`); `lda`, `ldb`, `ldc` are
    /// the row strides of the stored matrices. Same contract as `Kernels.GEMM.multiply`.
    static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Self,
                     a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// `eˣ`.
    static func exponential(_ x: Self) -> Self
    /// `values` in this type (for Float the same array, no copy).
    static func converting(_ values: [Float]) -> [Self]
    /// `values` rounded to Float (for Float the same array, no copy).
    static func floats(_ values: [Self]) -> [Float]
}

/// Checks a GEMM call's sizes; `k == 0` only scales C by β (BLAS would read nothing).
@inline(__always)
private func gemmPrologue<S: TrainingScalar>(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                                             lda: Int, ldb: Int, beta: S, c: UnsafeMutablePointer<S>, ldc: Int) -> Bool {
    precondition(m >= 0 && n >= 0 && k >= 0, "negative GEMM dimension m=\(m) n=\(n) k=\(k)")
    precondition(lda >= max(1, transposeA ? m : k) && ldb >= max(1, transposeB ? k : n) && ldc >= max(1, n),
                 "GEMM leading dimension too small")
    guard m > 0, n > 0 else { return false }
    if k == 0 {
        for i in 0..<m {
            for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] }
        }
        return false
    }
    return true
}

extension Float: TrainingScalar {
    public static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard gemmPrologue(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                           lda: lda, ldb: ldb, beta: beta, c: c, ldc: ldc) else { return }
        GEMM.multiply(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                      a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, threads: TrainingThreads.current)
    }

    @inline(__always) public static func exponential(_ x: Float) -> Float { Foundation.exp(x) }
    public static func converting(_ values: [Float]) -> [Float] { values }
    public static func floats(_ values: [Float]) -> [Float] { values }
}

extension Double: TrainingScalar {
    public static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double,
                            a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                            beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        guard gemmPrologue(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                           lda: lda, ldb: ldb, beta: beta, c: c, ldc: ldc) else { return }
        cblas_dgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    @inline(__always) public static func exponential(_ x: Double) -> Double { Foundation.exp(x) }
    public static func converting(_ values: [Float]) -> [Double] { values.map(Double.init) }
    public static func floats(_ values: [Double]) -> [Float] { values.map(Float.init) }
}

/// How many threads a training pass's products and heads use: the count the job gave OpenBLAS
/// (`ComputeThreads.applyToBLAS()`, set once per run), or one inside a section that already runs on
/// several threads of its own (`BLASRuntime.singleThreaded`, e.g. the attention's heads). The
/// count decides only who computes a tile, never how the work is cut, so results are the same
/// for every count.
public enum TrainingThreads {
    /// The threads available to the product or loop about to run.
    public static var current: ComputeThreads {
        BLASRuntime.isInSingleThreadedSection ? .single : ComputeThreads(max(1, BLASRuntime.threadCount))
    }
}
