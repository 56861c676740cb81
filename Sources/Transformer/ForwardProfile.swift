import Foundation

/// Wall time spent per part of the block forward pass, accumulated when a workspace carries a
/// profile (benchmarks only; normal runs pass none and pay nothing).
public final class ForwardProfile: @unchecked Sendable {
    /// The parts of a block, in execution order.
    public enum Part: String, CaseIterable, Sendable {
        case norm, qkvProjection = "q/k/v projection", rope, attentionScores = "attention QKᵀ+softmax+AV",
             outputProjection = "o projection", gateUp = "gate/up projection", swiGLU, downProjection = "down projection",
             observers
    }

    /// Seconds per part.
    public private(set) var seconds: [Part: Double] = [:]

    public init() {}

    /// Runs `body`, adding its wall time to `part`.
    @inline(__always)
    func measure<T>(_ part: Part, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { seconds[part, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 }
        return try body()
    }
}

extension Optional where Wrapped == ForwardProfile {
    /// Runs `body`, timing it when a profile is attached.
    @inline(__always)
    func measure<T>(_ part: ForwardProfile.Part, _ body: () throws -> T) rethrows -> T {
        switch self {
        case .some(let profile): return try profile.measure(part, body)
        case .none: return try body()
        }
    }
}
