import COpenBLAS
import Synchronization

/// The OpenBLAS library's own runtime state: which CPU kernels it selected and its thread count.
/// This thread count is the one process-wide setting of the project; it belongs to the library.
///
/// OpenBLAS's results depend on its thread count in the last bits (it blocks the work
/// differently), so a computation is bit-for-bit repeatable only while the count holds still.
/// Code that runs BLAS on several of its own threads at once asks for single-threaded BLAS with
/// `singleThreaded(_:)`; such sections may overlap and nest, and the count other code asked for
/// comes back when the last one ends.
public enum BLASRuntime {
    private struct State {
        /// The count asked for through `setThreadCount` (OpenBLAS's own count until then).
        var requested: Int?
        /// Single-threaded sections now running.
        var sections = 0
    }
    private static let state = Mutex(State())

    /// The CPU core whose kernels OpenBLAS uses (`openblas_get_corename`), e.g. `SkylakeX`.
    /// `Haswell` on an AVX-512 machine means `OPENBLAS_CORETYPE` forced the slower AVX2 kernels.
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// The thread count BLAS calls run with outside single-threaded sections: the last one set,
    /// or OpenBLAS's own default before any was.
    public static var threadCount: Int {
        state.withLock { $0.requested ?? Int(openblas_get_num_threads()) }
    }

    /// The count OpenBLAS runs with right now: 1 inside a single-threaded section.
    public static var openBLASThreadCount: Int { Int(openblas_get_num_threads()) }

    /// Whether a single-threaded section is running anywhere in the process.
    public static var isInSingleThreadedSection: Bool { state.withLock { $0.sections > 0 } }

    /// Sets OpenBLAS's thread count (used by every later BLAS call of the process). During a
    /// single-threaded section the count is recorded and applied when the last section ends.
    public static func setThreadCount(_ count: Int) {
        precondition(count > 0, "BLAS thread count must be positive, got \(count)")
        state.withLock { state in
            state.requested = count
            if state.sections == 0 { openblas_set_num_threads(Int32(count)) }
        }
    }

    /// Runs `body` with OpenBLAS single-threaded, for code that calls BLAS from several threads
    /// of its own at once. The first section to start sets the count to 1; the last to end
    /// restores the count asked for, whatever other threads did in between.
    public static func singleThreaded<R>(_ body: () throws -> R) rethrows -> R {
        state.withLock { state in
            if state.sections == 0 {
                if state.requested == nil { state.requested = Int(openblas_get_num_threads()) }
                openblas_set_num_threads(1)
            }
            state.sections += 1
        }
        defer {
            state.withLock { state in
                state.sections -= 1
                if state.sections == 0, let requested = state.requested { openblas_set_num_threads(Int32(requested)) }
            }
        }
        return try body()
    }
}
