import CSparse
import Foundation
import Kernels
import Synchronization

/// Threads that stay up and run one short parallel step at a time, for the decoder's
/// matrix–vector products: a token makes about two hundred of them, each tens of microseconds,
/// too short for a fork-join through Dispatch (tens of microseconds itself — measured on a Zen 4:
/// SmolLM2-135M's 210 sparse products took 9.2 ms on one thread and 11.8 ms split over two with
/// Dispatch).
///
/// A step is cut into chunks that the caller and the workers claim one at a time from a shared
/// counter, so the caller finishes the step alone when a worker is not running (another process
/// holds its core) instead of waiting for it. The counter carries the step's number, so a worker
/// that wakes late cannot claim a chunk of a later step. Workers spin for a few milliseconds
/// after a step (the next one starts within a microsecond), then sleep until woken.
public final class WorkerPool: @unchecked Sendable {
    /// Participants, the caller included.
    public let count: Int
    /// Step number (high 32 bits) and next unclaimed chunk (low 32 bits).
    private let state = Atomic<UInt64>(0)
    private let finished = Atomic<Int>(0)
    private let wake = NSCondition()
    private let callers = Mutex(())
    private var sleepers = 0
    private var step: ((Int) -> Void)?
    private var chunks = 0

    /// The chunk counter of a finished step: no chunk count reaches it.
    static let closed: UInt64 = 0xFFFF_FFFF

    /// Spins (each a `pause`) before a worker sleeps.
    static let spinLimit = 50_000

    private init(count: Int) {
        self.count = count
        for index in 1..<count {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "dlp-worker-\(index)"
            thread.start()
        }
    }

    private static let pools = Mutex([Int: WorkerPool]())

    /// The pool of `threads.count` participants (nil for one thread: run inline).
    public static func shared(_ threads: ComputeThreads) -> WorkerPool? {
        guard threads.count > 1 else { return nil }
        return pools.withLock { pools in
            if let pool = pools[threads.count] { return pool }
            let pool = WorkerPool(count: threads.count)
            pools[threads.count] = pool
            return pool
        }
    }

    /// Runs `body(chunk)` for every chunk `0 ..< chunks`, spread over the caller and the workers,
    /// and returns when all are done. `body` must write only memory no other chunk writes. One
    /// step at a time: concurrent callers wait for each other.
    public func run(chunks: Int, _ body: (Int) -> Void) {
        precondition(chunks >= 0 && UInt64(chunks) < Self.closed, "worker pool: \(chunks) chunks")
        guard chunks > 1 else {
            if chunks == 1 { body(0) }
            return
        }
        callers.withLock { _ in
            withoutActuallyEscaping(body) { body in
                let number = (state.load(ordering: .relaxed) >> 32) &+ 1
                step = body
                self.chunks = chunks
                finished.store(0, ordering: .relaxed)
                wake.lock()
                state.store(number << 32, ordering: .releasing)
                if sleepers > 0 { wake.broadcast() }
                wake.unlock()
                while let chunk = claim(number) {
                    body(chunk)
                    finished.wrappingAdd(1, ordering: .releasing)
                }
                var spins = 0
                while finished.load(ordering: .acquiring) < chunks {
                    spins += 1
                    if spins % 256 == 0 { sched_yield() } else { csparse_pause() }
                }
                // Close the step before the next one changes `chunks`: a worker that read this
                // step's exhausted counter could otherwise see the next step's larger `chunks`,
                // claim "chunk `chunks`" of this step and run it with the next step's body.
                state.store(number << 32 | Self.closed, ordering: .releasing)
                step = nil
            }
        }
    }

    /// The next chunk of step `number`, nil when the step has none left or has ended.
    private func claim(_ number: UInt64) -> Int? {
        var current = state.load(ordering: .acquiring)
        while current >> 32 == number, current & Self.closed != Self.closed, Int(current & 0xFFFF_FFFF) < chunks {
            let (exchanged, original) = state.compareExchange(expected: current, desired: current + 1,
                                                              successOrdering: .acquiringAndReleasing,
                                                              failureOrdering: .acquiring)
            if exchanged { return Int(current & 0xFFFF_FFFF) }
            current = original
        }
        return nil
    }

    private func work() {
        var seen: UInt64 = 0
        while true {
            var spins = 0
            while state.load(ordering: .acquiring) >> 32 == seen {
                spins += 1
                if spins < Self.spinLimit {
                    csparse_pause()
                    continue
                }
                wake.lock()
                sleepers += 1
                while state.load(ordering: .acquiring) >> 32 == seen { wake.wait() }
                sleepers -= 1
                wake.unlock()
            }
            seen = state.load(ordering: .acquiring) >> 32
            // `chunks` and `step` belong to step `seen` while a claimed chunk of it is unfinished.
            while let chunk = claim(seen) {
                step!(chunk)
                finished.wrappingAdd(1, ordering: .releasing)
            }
        }
    }
}

/// Runs `body(chunk)` for chunks `0 ..< chunks`: on the worker pool of `threads`, or inline in
/// order for one thread.
public func forEachChunk(_ chunks: Int, threads: ComputeThreads, _ body: (Int) -> Void) {
    if let pool = WorkerPool.shared(threads) {
        pool.run(chunks: chunks, body)
    } else {
        for chunk in 0..<chunks { body(chunk) }
    }
}

/// Chunks for a product split over `threads`: a few per thread so a late thread delays little,
/// one when the product is small.
func chunkCount(weights: Int, rows: Int, threads: ComputeThreads) -> Int {
    guard threads.count > 1, weights >= SparseMatrix.minimumWeightsPerThread * 2 else { return 1 }
    return max(1, min(rows, threads.count * 4, weights / SparseMatrix.minimumWeightsPerThread))
}
