import Testing
import Foundation
import TensorCore
import Kernels
import Pruning

/// Timings of SparseGPT on the projection shapes of a 0.5B-class model (1536×576 and
/// 576×1536, 2048 calibration tokens). Opt-in: `DLP_BENCHMARK=1 swift test -c release --filter SparseGPTTiming`.
@Suite struct SparseGPTTimingTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["DLP_BENCHMARK"] != nil),
          arguments: [(1536, 576), (576, 1536)])
    func sparseGPTTiming(_ rows: Int, _ columns: Int) throws {
        var generator = SeededGenerator(seed: 5)
        let x = correlatedInputs(tokens: 2048, features: columns, &generator)
        let w = randomMatrix(rows, columns, &generator)
        for threads in [ComputeThreads.single, .allAvailable] {
            threads.applyToBLAS()
            var pruned = w
            let h = hessian(x)
            let start = Date()
            let outcome = try SparseGPTPruner().prune(&pruned, hessian: h, target: .ratio(0.7), name: "w", threads: threads)
            let seconds = Date().timeIntervalSince(start)
            var nm = w
            let startNM = Date()
            _ = try SparseGPTPruner().prune(&nm, hessian: hessian(x), target: .nm(zeros: 2, group: 4), name: "w", threads: threads)
            let secondsNM = Date().timeIntervalSince(startNM)
            print("SparseGPT \(rows)×\(columns), \(threads): unstructured 70% \(String(format: "%.3f", seconds)) s, 2:4 \(String(format: "%.3f", secondsNM)) s")
            try SparsityVerifier.verify(outcome, weight: pruned, name: "w")
        }
    }
}
