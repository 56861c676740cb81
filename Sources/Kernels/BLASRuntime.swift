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
    /// The process's sections and count, applied to OpenBLAS.
    static let sections = BLASThreadSections(libraryCount: { Int(openblas_get_num_threads()) },
                                             apply: { openblas_set_num_threads(Int32($0)) })

    /// The CPU core whose kernels OpenBLAS uses (`openblas_get_corename`), e.g. `SkylakeX`.
    /// `Haswell` on an AVX-512 machine means `OPENBLAS_CORETYPE` forced the slower AVX2 kernels.
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// The thread count BLAS calls run with outside single-threaded sections: the last one set,
    /// or OpenBLAS's own default before any was.
    public static var threadCount: Int { sections.threadCount }

    /// The count OpenBLAS runs with right now: 1 inside a single-threaded section.
    public static var openBLASThreadCount: Int { Int(openblas_get_num_threads()) }

    /// Whether a single-threaded section is running anywhere in the process.
    public static var isInSingleThreadedSection: Bool { sections.isInSection }

    /// Sets OpenBLAS's thread count (used by every later BLAS call of the process). During a
    /// single-threaded section the count is recorded and applied when the last section ends.
    public static func setThreadCount(_ count: Int) { sections.setThreadCount(count) }

    /// Runs `body` with OpenBLAS single-threaded, for code that calls BLAS from several threads
    /// of its own at once. The first section to start sets the count to 1; the last to end
    /// restores the count asked for, whatever other threads did in between.
    public static func singleThreaded<R>(_ body: () throws -> R) rethrows -> R {
        try sections.singleThreaded(body)
    }
}

/// The bookkeeping behind ``BLASRuntime``'s thread count and single-threaded sections, over any
/// setter: OpenBLAS's for the process, a recorder in tests (the process's own count is shared by
/// every test running at once, so its bookkeeping is tested on an instance of its own).
public final class BLASThreadSections: Sendable {
    private struct State {
        /// The count asked for through `setThreadCount` (the library's own count until then).
        var requested: Int?
        /// Single-threaded sections now running.
        var sections = 0
    }
    private let state = Mutex(State())
    private let libraryCount: @Sendable () -> Int
    private let apply: @Sendable (Int) -> Void

    /// Sections over a library whose count `libraryCount` reads and `apply` sets.
    public init(libraryCount: @escaping @Sendable () -> Int, apply: @escaping @Sendable (Int) -> Void) {
        self.libraryCount = libraryCount
        self.apply = apply
    }

    /// The count outside sections: the last one set, or the library's own before any was.
    public var threadCount: Int { state.withLock { $0.requested ?? libraryCount() } }

    /// Whether a section is running.
    public var isInSection: Bool { state.withLock { $0.sections > 0 } }

    /// Sets the count; during a section it is recorded and applied when the last section ends.
    public func setThreadCount(_ count: Int) {
        precondition(count > 0, "BLAS thread count must be positive, got \(count)")
        state.withLock { state in
            state.requested = count
            if state.sections == 0 { apply(count) }
        }
    }

    /// Runs `body` with the count at 1; sections may overlap and nest, and the last to end
    /// applies the count asked for.
    public func singleThreaded<R>(_ body: () throws -> R) rethrows -> R {
        state.withLock { state in
            if state.sections == 0 {
                if state.requested == nil { state.requested = libraryCount() }
                apply(1)
            }
            state.sections += 1
        }
        defer {
            state.withLock { state in
                state.sections -= 1
                if state.sections == 0, let requested = state.requested { apply(requested) }
            }
        }
        return try body()
    }
}
