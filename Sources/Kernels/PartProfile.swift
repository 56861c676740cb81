import Dispatch

/// Wall time spent per part of a computation, accumulated when the computation carries a profile
/// (benchmarks only; normal runs carry none and pay nothing): the block forward pass
/// (`ForwardProfile`) and the incremental decoder (`DecodeProfile`) each name their parts.
public final class PartProfile<Part: Hashable & Sendable>: @unchecked Sendable {
    /// Seconds per part.
    public private(set) var seconds: [Part: Double] = [:]

    public init() {}

    public func reset() { seconds = [:] }

    /// Runs `body`, adding its wall time to `part`.
    @inline(__always)
    public func measure<T>(_ part: Part, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { seconds[part, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 }
        return try body()
    }
}

extension Optional {
    /// Runs `body`, timing it when a profile is attached.
    @inline(__always)
    public func measure<Part, T>(_ part: Part, _ body: () throws -> T) rethrows -> T where Wrapped == PartProfile<Part> {
        switch self {
        case .some(let profile): return try profile.measure(part, body)
        case .none: return try body()
        }
    }
}
