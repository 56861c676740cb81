import Dispatch
import Foundation
import Testing
import Kernels

@Suite struct BLASRuntimeTests {
    /// Single-threaded sections overlapping on many threads (as two forward passes of one
    /// process do) end with the count that was set before them; inside any of them OpenBLAS
    /// runs single-threaded. Saving and restoring the count per caller instead leaves 1 behind
    /// whenever one caller saves while another's section is running.
    @Test func overlappingSectionsRestoreTheCount() {
        let previous = BLASRuntime.threadCount
        defer { BLASRuntime.setThreadCount(previous) }
        BLASRuntime.setThreadCount(2)
        for round in 0..<20 {
            nonisolated(unsafe) var insideCounts = [Int](repeating: 0, count: 16)
            insideCounts.withUnsafeMutableBufferPointer { counts in
                nonisolated(unsafe) let counts = counts
                DispatchQueue.concurrentPerform(iterations: counts.count) { i in
                    BLASRuntime.singleThreaded {
                        Thread.sleep(forTimeInterval: 0.000_2)  // long enough for sections to overlap
                        BLASRuntime.singleThreaded { counts[i] = BLASRuntime.openBLASThreadCount }
                    }
                }
            }
            #expect(insideCounts.allSatisfy { $0 == 1 }, "round \(round)")
            #expect(BLASRuntime.threadCount == 2, "round \(round)")
            #expect(BLASRuntime.openBLASThreadCount == 2, "round \(round)")
            if BLASRuntime.openBLASThreadCount != 2 { break }
        }
        #expect(!BLASRuntime.isInSingleThreadedSection)
    }

    /// A count set during a section is what BLAS runs with once the section ends.
    @Test func countSetDuringASectionAppliesAfterIt() {
        let previous = BLASRuntime.threadCount
        defer { BLASRuntime.setThreadCount(previous) }
        BLASRuntime.setThreadCount(1)
        BLASRuntime.singleThreaded {
            BLASRuntime.setThreadCount(2)
            #expect(BLASRuntime.openBLASThreadCount == 1)
            #expect(BLASRuntime.threadCount == 2)
        }
        #expect(BLASRuntime.openBLASThreadCount == 2)
    }
}
