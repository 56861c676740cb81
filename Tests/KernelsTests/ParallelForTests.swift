import Testing
import Kernels

@Suite struct ParallelForTests {
    @Test(arguments: [0, 1, 2, 7, 577], [1, 2, 3, 16])
    func visitsEveryIndexOnce(count: Int, threads: Int) {
        let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(1, count))
        counts.initialize(repeating: 0)
        defer { counts.deallocate() }
        nonisolated(unsafe) let shared = counts
        parallelFor(5..<(5 + count), threads: ComputeThreads(threads)) { range in
            for i in range { shared[i - 5] += 1 }
        }
        #expect(counts.prefix(count).allSatisfy { $0 == 1 })
    }

    @Test func blasThreadCountFollowsSetting() {
        let previous = BLASRuntime.threadCount
        ComputeThreads.single.applyToBLAS()
        #expect(BLASRuntime.threadCount == 1)
        BLASRuntime.setThreadCount(max(1, previous))
        #expect(!BLASRuntime.coreName.isEmpty)
    }
}
