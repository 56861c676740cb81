import COpenBLAS

/// Cholesky-based factorizations of symmetric positive-definite `[n, n]` row-major matrices
/// through LAPACK (`spotrf`, `strtri`), in place and without LAPACKE's row-major copies.
///
/// Trick used throughout: the lower triangle of a row-major matrix is the upper triangle of the
/// same memory read column-major, so these routines call LAPACK column-major with `uplo = 'U'`
/// and touch only the row-major **lower** triangle (diagonal included). The strict upper
/// triangle is never read or written until the final transpose, so a caller can keep the
/// original matrix there and retry (see `GEMM.mirrorUpperTriangle`).
public enum Cholesky {
    /// Why a factorization failed.
    public enum Failure: Error, Equatable, Sendable {
        /// The leading minor of this order (1-based) of `J·H·J` — the trailing minor of `H` —
        /// is not positive definite (LAPACK `info > 0`), or numerically singular.
        case notPositiveDefinite(step: Step, order: Int)
        /// LAPACK rejected an argument, or the matrix holds NaN (LAPACK `info < 0`).
        case invalidInput(step: Step, info: Int)
    }

    /// The step of `inverseUpperFactor` that failed.
    public enum Step: String, Sendable {
        case factorMatrix = "Cholesky of H"
        case invert = "inverse of the Cholesky factor"
    }

    /// Replaces the lower triangle of the symmetric positive-definite `h` (`[n, n]`, row-major,
    /// lower triangle and diagonal significant) by the **upper** Cholesky factor of its inverse,
    /// written into the upper triangle: on success `U = h`'s upper triangle (diagonal included)
    /// satisfies `Uᵀ·U = H⁻¹`, and the strict lower triangle holds `Uᵀ`.
    ///
    /// The factor SparseGPT asks for (PyTorch's `cholesky(cholesky_inverse(cholesky(H)), upper=True)`)
    /// in half the work and without forming `H⁻¹`: with `J` the reversal of the indices, factor
    /// `J·H·J = L·Lᵀ` (`spotrf`) and invert `L` (`strtri`); then `U = J·L⁻¹·J` is upper triangular
    /// and `Uᵀ·U = J·L⁻ᵀ·L⁻¹·J = (J·H·J)⁻¹` conjugated by `J`, that is `H⁻¹`. A Cholesky factor with
    /// a positive diagonal is unique, so this is the same `U`, rounded differently: `2n³/3`
    /// operations instead of `4n³/3`.
    ///
    /// LAPACK runs single-threaded here (OpenBLAS's threaded `spotrf` blocks its work by the
    /// thread count and changes the last bits), so the factor is the same whatever the thread
    /// count. On failure the strict upper triangle is untouched (the lower one and the diagonal
    /// are garbage), so the caller can restore and retry.
    public static func inverseUpperFactor(_ h: UnsafeMutablePointer<Float>, size n: Int) -> Failure? {
        guard n > 0 else { return nil }
        let order = Int32(n)
        let colMajor = Int32(LAPACK_COL_MAJOR)
        let upper = Int8(UInt8(ascii: "U")), nonUnit = Int8(UInt8(ascii: "N"))
        // The lower triangle becomes that of J·H·J: (i, j) ↔ (n−1−j, n−1−i) maps it onto itself.
        antiTransposeLowerTriangle(h, size: n)
        let diagonal = (0..<n).map { h[$0 * n + $0] }
        return BLASRuntime.singleThreaded { () -> Failure? in
            // Row-major lower = column-major upper: J·H·J = Lᵀ_c·L_c with L_c column-major upper,
            // which the row-major lower triangle reads as L = L_cᵀ (lower), J·H·J = L·Lᵀ.
            var info = LAPACKE_spotrf(colMajor, upper, order, h, order)
            if let failure = check(info, .factorMatrix) { return failure }
            // A pivot that kept no significant digit of its diagonal entry: numerically singular,
            // though LAPACK only refuses pivots ≤ 0 (the inverse would be rounding noise).
            for j in 0..<n where h[j * n + j] * h[j * n + j] <= 4 * Float.ulpOfOne * diagonal[j] {
                return .notPositiveDefinite(step: .factorMatrix, order: j + 1)
            }
            info = LAPACKE_strtri(colMajor, upper, nonUnit, order, h, order)
            if let failure = check(info, .invert) { return failure }
            // The lower triangle holds L⁻¹; its anti-transpose is Uᵀ = J·L⁻ᵀ·J (lower).
            antiTransposeLowerTriangle(h, size: n)
            for i in 0..<n {
                for j in (i + 1)..<max(i + 1, n) { h[i * n + j] = h[j * n + i] }
            }
            return nil
        }
    }

    /// Swaps `(i, j)` with `(n−1−j, n−1−i)` over the lower triangle (diagonal included): the
    /// lower triangle of `J·A·J` for a symmetric `A`, or of `J·Aᵀ·J` for a lower triangular `A`.
    static func antiTransposeLowerTriangle(_ h: UnsafeMutablePointer<Float>, size n: Int) {
        for i in 0..<n {
            for j in 0...i {
                let (p, q) = (n - 1 - j, n - 1 - i)
                // Each pair once: (i, j) before (p, q) in row-major order.
                if p > i || (p == i && q > j) { swap(&h[i * n + j], &h[p * n + q]) }
            }
        }
    }

    private static func check(_ info: Int32, _ step: Step) -> Failure? {
        if info > 0 { return .notPositiveDefinite(step: step, order: Int(info)) }
        if info < 0 { return .invalidInput(step: step, info: Int(info)) }
        return nil
    }
}
