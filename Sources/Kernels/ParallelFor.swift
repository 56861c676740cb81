import Dispatch

/// Runs `body` over `range` split into at most `threads.count` contiguous, near-equal chunks,
/// concurrently (`DispatchQueue.concurrentPerform`), and returns when all chunks are done.
///
/// Chunk `c` of `n` covers `range.lowerBound + c·len/n ..< range.lowerBound + (c+1)·len/n`, so
/// every index is visited exactly once. With one thread, or a range of one element, `body` runs
/// on the calling thread. `body` must only write to memory no other chunk writes.
public func parallelFor(_ range: Range<Int>, threads: ComputeThreads,
                        _ body: @Sendable (Range<Int>) -> Void) {
    let length = range.count
    guard length > 0 else { return }
    let chunks = min(threads.count, length)
    if chunks == 1 {
        body(range)
        return
    }
    let start = range.lowerBound
    DispatchQueue.concurrentPerform(iterations: chunks) { c in
        let lower = start + c * length / chunks
        let upper = start + (c + 1) * length / chunks
        body(lower..<upper)
    }
}
