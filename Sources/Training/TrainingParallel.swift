import Kernels

/// A pointer handed to the threads of ``TrainingParallel/forEach(_:cost:_:)`` or `parallelFor`
/// (the attention's heads): each thread writes only the indices of its own chunk.
struct SharedPointer<S>: @unchecked Sendable {
    let base: UnsafeMutablePointer<S>
    init(_ base: UnsafeMutablePointer<S>) { self.base = base }
    init(_ base: UnsafePointer<S>) { self.base = UnsafeMutablePointer(mutating: base) }
    @inline(__always) subscript(i: Int) -> S {
        get { base[i] }
        nonmutating set { base[i] = newValue }
    }
}

/// Element-wise and row-wise loops of a training pass on the threads of ``TrainingThreads``.
/// The loops it runs compute each index on its own, so how `0..<count` is cut does not change
/// a bit; reductions (sums over rows) stay outside, in order.
enum TrainingParallel {
    /// Loops of fewer elementary operations than this run on the calling thread.
    static let minimumCost = 1 << 15

    /// Runs `body` over `0..<count` cut into one chunk per thread (all of it on the calling
    /// thread when `cost`, the loop's work in elementary operations, is small).
    static func forEach(_ count: Int, cost: Int, _ body: @Sendable (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let threads = TrainingThreads.current
        if threads.count == 1 || cost < minimumCost {
            body(0..<count)
        } else {
            parallelFor(0..<count, threads: threads, body)
        }
    }
}
