/// One block's keys (after RoPE) and values for the first `tokens` positions of a sequence, kept
/// so that several continuations of those tokens can each run through the block without
/// recomputing them (``DecoderLayer/forward(_:tokens:workspace:prefix:keep:observer:)``).
///
/// Letters: P kept positions, K key/value heads, d head width.
public final class KeyValuePrefix: @unchecked Sendable {
    /// Most positions it can hold.
    public let capacity: Int
    /// Positions held, `P`.
    public private(set) var tokens = 0
    /// Floats per position, `K·d`.
    let width: Int
    let keys: UnsafeMutablePointer<Float>      // [capacity, K·d]
    let values: UnsafeMutablePointer<Float>    // [capacity, K·d]

    public init(configuration c: ModelConfiguration, capacity: Int) {
        precondition(capacity > 0, "key/value prefix capacity must be positive")
        self.capacity = capacity
        width = c.keyValueHeadCount * c.headDimension
        keys = .allocate(capacity: capacity * width)
        values = .allocate(capacity: capacity * width)
    }

    /// Copies `count` positions of keys and values (`[count, K·d]` each).
    func store(keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, count: Int) {
        precondition(count <= capacity, "key/value prefix: \(count) positions, holds \(capacity)")
        keys.update(from: k, count: count * width)
        values.update(from: v, count: count * width)
        tokens = count
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }
}
