import Dispatch
import Foundation
import Synchronization
import Testing
import Kernels

/// The bookkeeping of `BLASRuntime`'s count and sections, on instances of their own over a
/// recorded count: the process's OpenBLAS count is shared with every test running beside these.
@Suite struct BLASRuntimeTests {
    /// A library count that sections set and tests read.
    final class RecordedCount: Sendable {
        let value: Mutex<Int>
        init(_ value: Int) { self.value = Mutex(value) }
        var current: Int { value.withLock { $0 } }
        func sections() -> BLASThreadSections {
            BLASThreadSections(libraryCount: { self.current }, apply: { count in self.value.withLock { $0 = count } })
        }
    }

    /// Single-threaded sections overlapping on many threads (as two forward passes of one
    /// process do) end with the count that was set before them; inside any of them the library
    /// runs single-threaded. Saving and restoring the count per caller instead leaves 1 behind
    /// whenever one caller saves while another's section is running.
    @Test func overlappingSectionsRestoreTheCount() {
        let library = RecordedCount(4)
        let sections = library.sections()
        #expect(sections.threadCount == 4)
        sections.setThreadCount(2)
        for round in 0..<20 {
            nonisolated(unsafe) var insideCounts = [Int](repeating: 0, count: 16)
            insideCounts.withUnsafeMutableBufferPointer { counts in
                nonisolated(unsafe) let counts = counts
                DispatchQueue.concurrentPerform(iterations: counts.count) { i in
                    sections.singleThreaded {
                        Thread.sleep(forTimeInterval: 0.000_2)  // long enough for sections to overlap
                        sections.singleThreaded { counts[i] = library.current }
                    }
                }
            }
            #expect(insideCounts.allSatisfy { $0 == 1 }, "round \(round)")
            #expect(sections.threadCount == 2, "round \(round)")
            #expect(library.current == 2, "round \(round)")
            if library.current != 2 { break }
        }
        #expect(!sections.isInSection)
    }

    /// A count set during a section is what the library runs with once the section ends; a
    /// section before any count was set restores the library's own.
    @Test func countSetDuringASectionAppliesAfterIt() {
        let library = RecordedCount(3)
        let sections = library.sections()
        sections.singleThreaded { #expect(library.current == 1) }
        #expect(library.current == 3)
        sections.setThreadCount(1)
        sections.singleThreaded {
            sections.setThreadCount(2)
            #expect(library.current == 1)
            #expect(sections.threadCount == 2)
        }
        #expect(library.current == 2)
    }

    /// The process's instance drives OpenBLAS: inside a section OpenBLAS runs one thread.
    @Test func processSectionsDriveOpenBLAS() {
        BLASRuntime.singleThreaded { #expect(BLASRuntime.openBLASThreadCount == 1) }
    }
}
