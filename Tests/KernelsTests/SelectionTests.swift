import Testing
import TensorCore
import Kernels
import _TestSupport

@Suite struct SelectionTests {
    @Test(arguments: [1, 2, 7, 33, 1000, 4097])
    func kthSmallestMatchesSorting(_ n: Int) {
        var generator = SeededGenerator(seed: UInt64(n))
        // Few distinct values so ties are common, plus a continuous half.
        let values = (0..<n).map { i in i % 2 == 0 ? Float(Int(generator.next() % 5)) : generator.nextSignedUnit() }
        let sorted = values.sorted()
        for k in Set([0, n / 2, (n - 1) / 2, n - 1]) {
            var copy = values
            let value = copy.withUnsafeMutableBufferPointer { Selection.kthSmallest($0, rank: k) }
            #expect(value == sorted[k], "n=\(n) k=\(k)")
        }
    }

    @Test func adversarialInputsStayExact() {
        for values in [[Float](repeating: 3, count: 999), (0..<999).map(Float.init), (0..<999).reversed().map(Float.init)] {
            var copy = values
            let value = copy.withUnsafeMutableBufferPointer { Selection.kthSmallest($0, rank: 500) }
            #expect(value == values.sorted()[500])
        }
    }

    @Test(arguments: [(37, 0), (37, 1), (37, 18), (37, 37), (130, 65)])
    func lowestChoosesTheStableSortPrefix(_ n: Int, _ k: Int) {
        var generator = SeededGenerator(seed: UInt64(7 * n + k))
        let scores = (0..<n).map { _ in Float(Int(generator.next() % 6)) }
        var scratch = [Float](repeating: 0, count: n)
        let threshold = scores.withUnsafeBufferPointer { s in
            scratch.withUnsafeMutableBufferPointer { Selection.lowest(k, of: s.baseAddress!, count: n, scratch: $0.baseAddress!) }
        }
        var chosen = Set<Int>()
        if let threshold {
            var ties = threshold.tiesChosen
            for i in 0..<n where scores[i] < threshold.value || (scores[i] == threshold.value && ties > 0) {
                if scores[i] == threshold.value { ties -= 1 }
                chosen.insert(i)
            }
        }
        #expect(chosen == Reference.lowestIndices(scores, k))
    }
}
