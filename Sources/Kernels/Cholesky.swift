import COpenBLAS

/// Cholesky-based factorizations of symmetric positive-definite `[n, n]` row-major matrices
/// through LAPACK (`spotrf`, `spotri`), in place and without LAPACKE's row-major copies.
///
/// Trick used throughout: the lower triangle of a row-major matrix is the upper triangle of the
/// same memory read column-major, so these routines call LAPACK column-major with `uplo = 'U'`
/// and touch only the row-major **lower** triangle (diagonal included). The strict upper
/// triangle is never read or written until the final transpose, so a caller can keep the
/// original matrix there and retry (see `GEMM.mirrorUpperTriangle`).
public enum Cholesky {
    /// Why a factorization failed.
    public enum Failure: Error, Equatable, Sendable {
        /// The leading minor of this order (1-based) is not positive definite (LAPACK `info > 0`).
        case notPositiveDefinite(step: Step, order: Int)
        /// LAPACK rejected an argument, or the matrix holds NaN (LAPACK `info < 0`).
        case invalidInput(step: Step, info: Int)
    }

    /// The step of `inverseUpperFactor` that failed.
    public enum Step: String, Sendable {
        case factorMatrix = "Cholesky of H"
        case invert = "inverse from the Cholesky factor"
        case factorInverse = "Cholesky of H⁻¹"
    }

    /// Replaces the lower triangle of the symmetric positive-definite `h` (`[n, n]`, row-major,
    /// lower triangle and diagonal significant) by the **upper** Cholesky factor of its inverse,
    /// written into the upper triangle: on success `U = h`'s upper triangle (diagonal included)
    /// satisfies `Uᵀ·U = H⁻¹`, and the strict lower triangle holds `Uᵀ`.
    ///
    /// Same result as PyTorch's `cholesky(cholesky_inverse(cholesky(H)), upper=True)` (the
    /// SparseGPT recipe). On failure the strict upper triangle is untouched (the lower one and the
    /// diagonal are garbage), so the caller can restore and retry.
    public static func inverseUpperFactor(_ h: UnsafeMutablePointer<Float>, size n: Int) -> Failure? {
        guard n > 0 else { return nil }
        let order = Int32(n)
        let colMajor = Int32(LAPACK_COL_MAJOR)
        let upper = Int8(UInt8(ascii: "U"))
        // Row-major lower = column-major upper: H = L·Lᵀ.
        var info = LAPACKE_spotrf(colMajor, upper, order, h, order)
        if let failure = check(info, .factorMatrix) { return failure }
        info = LAPACKE_spotri(colMajor, upper, order, h, order)
        if let failure = check(info, .invert) { return failure }
        // Column-major upper factor U_c of H⁻¹ (H⁻¹ = U_cᵀ·U_c) sits in the row-major lower
        // triangle as U_cᵀ.
        info = LAPACKE_spotrf(colMajor, upper, order, h, order)
        if let failure = check(info, .factorInverse) { return failure }
        for i in 0..<n {
            for j in (i + 1)..<max(i + 1, n) { h[i * n + j] = h[j * n + i] }
        }
        return nil
    }

    private static func check(_ info: Int32, _ step: Step) -> Failure? {
        if info > 0 { return .notPositiveDefinite(step: step, order: Int(info)) }
        if info < 0 { return .invalidInput(step: step, info: Int(info)) }
        return nil
    }
}
