import Foundation

/// How many CPU threads a computation may use: a validated value passed to every kernel that
/// runs in parallel (there is no global setting). OpenBLAS keeps its own process-wide thread
/// count; `applyToBLAS()` sets it from this value.
public struct ComputeThreads: Sendable, Equatable, CustomStringConvertible {
    /// Number of threads, at least 1.
    public let count: Int

    /// `count` threads; `count` must be positive (the CLI validates user input before this).
    public init(_ count: Int) {
        precondition(count > 0, "thread count must be positive, got \(count)")
        self.count = count
    }

    /// One thread.
    public static let single = ComputeThreads(1)

    /// As many threads as the process may run on at once (`activeProcessorCount`).
    public static var allAvailable: ComputeThreads {
        ComputeThreads(max(1, ProcessInfo.processInfo.activeProcessorCount))
    }

    /// Sets OpenBLAS's process-wide thread count to `count`.
    public func applyToBLAS() { BLASRuntime.setThreadCount(count) }

    public var description: String { "\(count) thread\(count == 1 ? "" : "s")" }
}
