import COpenBLAS

/// The OpenBLAS library's own runtime state: which CPU kernels it selected and its thread count.
/// This thread count is the one process-wide setting of the project; it belongs to the library.
public enum BLASRuntime {
    /// The CPU core whose kernels OpenBLAS uses (`openblas_get_corename`), e.g. `SkylakeX`.
    /// `Haswell` on an AVX-512 machine means `OPENBLAS_CORETYPE` forced the slower AVX2 kernels.
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS's current thread count.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// Sets OpenBLAS's thread count (used by every later BLAS call of the process).
    public static func setThreadCount(_ count: Int) {
        precondition(count > 0, "BLAS thread count must be positive, got \(count)")
        openblas_set_num_threads(Int32(count))
    }
}
