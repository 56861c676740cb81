import Testing
import TensorCore
import Kernels
import _TestSupport
import Pruning

@Suite struct SparseGPTPrunerTests {
    /// A synthetic layer: weight `[rows, columns]`, correlated calibration inputs `[tokens, columns]`.
    func layer(rows: Int, columns: Int, tokens: Int, seed: UInt64) -> (w: Matrix, x: Matrix) {
        var generator = SeededGenerator(seed: seed)
        let w = randomMatrix(rows, columns, &generator)
        let x = correlatedInputs(tokens: tokens, features: columns, &generator)
        return (w, x)
    }

    @Test(arguments: [PruningMethod.magnitude, .wanda])
    func reconstructsBetterThanMaskOnlyPruners(_ baseline: PruningMethod) throws {
        let (w, x) = layer(rows: 23, columns: 148, tokens: 400, seed: 1)
        for target in [SparsityTarget.ratio(0.5), .ratio(0.7), .nm(zeros: 2, group: 4)] {
            var sparse = w, other = w
            let outcome = try SparseGPTPruner().prune(&sparse, hessian: hessian(x), target: target, name: "w")
            try SparsityVerifier.verify(outcome, weight: sparse, name: "w")
            let calibration: LinearCalibration = baseline == .wanda ? .inputNorms(squaredNorms(x)) : .none
            _ = try LinearPruner(method: baseline).prune(&other, target: target, calibration: calibration, name: "w")
            let e1 = reconstructionError(x, w, sparse), e2 = reconstructionError(x, w, other)
            #expect(e1 < e2, "\(target): SparseGPT \(e1) vs \(baseline) \(e2)")
            #expect(abs(SparsityReport.zeroCount(sparse) - outcome.mask.prunedCount) <= 0)
        }
    }

    @Test func matchesTheDoublePrecisionTranscription() throws {
        let (w, x) = layer(rows: 9, columns: 45, tokens: 120, seed: 2)
        var pruned = w
        let h = hessian(x)
        _ = try SparseGPTPruner(blockSize: 16).prune(&pruned, hessian: h, target: .ratio(0.6), name: "w")
        let expected = Reference.sparseGPT(w, hessian: h, ratio: 0.6, blockSize: 16, dampingFraction: 0.01)
        let scale = w.storage.reduce(0) { max($0, Double(abs($1))) }
        var mismatched = 0
        for i in 0..<w.count {
            if (pruned.storage[i] == 0) != (expected[i] == 0) { mismatched += 1; continue }
            #expect(abs(Double(pruned.storage[i]) - expected[i]) < 2e-3 * scale, "element \(i)")
        }
        #expect(mismatched == 0)
    }

    @Test func blockCountsAreExactAndDeadInputsAreZeroed() throws {
        var (w, x) = layer(rows: 7, columns: 300, tokens: 500, seed: 3)
        for t in 0..<x.rows { x[t, 17] = 0; x[t, 250] = 0 }
        let outcome = try SparseGPTPruner().prune(&w, hessian: hessian(x), target: .ratio(0.55), name: "w", threads: ComputeThreads(3))
        #expect(outcome.requirement == .perColumnBlock(width: 128, ratio: 0.55))
        try SparsityVerifier.verify(outcome, weight: w, name: "w")
        for (start, width) in [(0, 128), (128, 128), (256, 44)] {
            let pruned = (0..<7).reduce(0) { $0 + outcome.mask.prunedCount(row: $1, columns: start..<(start + width)) }
            #expect(pruned == Int(Double(7 * width) * 0.55))
        }
        #expect(outcome.sparseGPT?.deadInputs == 2)
        for r in 0..<7 { #expect(w[r, 17] == 0 && w[r, 250] == 0) }
        #expect(outcome.sparseGPT?.dampingRaises == 0)
    }

    /// The pruner's own thread count changes neither the mask nor the weights. The weights are
    /// compared to 1e-6 rather than bit for bit: OpenBLAS's thread count is process-wide and tests
    /// running beside this one (attention, evaluation) change it while it runs, which may change
    /// the last bit of a GEMM inside the OBS update; within one `dlp prune` nothing else does.
    @Test func sameInputsGiveTheSameMaskAndWeights() throws {
        let (w, x) = layer(rows: 17, columns: 136, tokens: 200, seed: 4)
        var a = w, b = w
        let ma = try SparseGPTPruner().prune(&a, hessian: hessian(x), target: .nm(zeros: 4, group: 8), name: "w", threads: .single)
        let mb = try SparseGPTPruner().prune(&b, hessian: hessian(x), target: .nm(zeros: 4, group: 8), name: "w", threads: ComputeThreads(4))
        #expect(ma.mask == mb.mask)
        let worst = zip(a.storage, b.storage).map { abs($0 - $1) }.max() ?? .nan
        #expect(worst <= 1e-6, "max |Δw| \(worst)")
        try SparsityVerifier.verify(ma, weight: a, name: "w")
    }

    /// OpenBLAS's thread count changes no bit of SparseGPT: the Hessian (tiles of `sgemm` on our threads), its Cholesky
    /// factor (`spotrf`, `strtri`) and the lazy updates (`sgemm`) at a real layer's size
    /// (576 inputs, as SmolLM2-135M's q/k/v/gate/up; 1,536 as its down projection) with 1, 2 and 3
    /// BLAS threads, compared bit for bit, as are the pruner's own 1 and 3 threads.
    @Test(arguments: [576, 1536])
    func blasThreadCountChangesNoBit(_ columns: Int) throws {
        let (w, x) = layer(rows: 192, columns: columns, tokens: 1024, seed: 5)
        let previous = BLASRuntime.threadCount
        defer { BLASRuntime.setThreadCount(previous) }
        func run(blas: Int, threads: Int) throws -> (h: [UInt32], w: [UInt32]) {
            BLASRuntime.setThreadCount(blas)
            let h = hessian(x)
            var pruned = w
            _ = try SparseGPTPruner().prune(&pruned, hessian: h, target: .ratio(0.6), name: "w", threads: ComputeThreads(threads))
            return (h.storage.map(\.bitPattern), pruned.storage.map(\.bitPattern))
        }
        let one = try run(blas: 1, threads: 1)
        for (blas, threads) in [(2, 1), (3, 1), (2, 3)] {
            let other = try run(blas: blas, threads: threads)
            // Counts, not the arrays: a failed array comparison is diffed element by element.
            let differentH = zip(other.h, one.h).filter { $0 != $1 }.count
            let differentW = zip(other.w, one.w).filter { $0 != $1 }.count
            #expect(differentH == 0, "\(blas) BLAS threads: Hessian")
            #expect(differentW == 0, "\(blas) BLAS threads, \(threads) pruner threads: weights")
        }
    }

    @Test func choleskyFailureRaisesTheDampingAndReportsIt() throws {
        // Indefinite: eigenvalues −1 and 3; mean diag 1. Damping 0.01, 0.1 fail, 1 is singular, 10 works.
        let h = Matrix(rows: 2, columns: 2, storage: [1, 2, 2, 1])
        var w = Matrix(rows: 2, columns: 2, storage: [1, 2, 3, 4])
        let outcome = try SparseGPTPruner().prune(&w, hessian: h, target: .ratio(0.5), name: "w")
        let diagnostics = try #require(outcome.sparseGPT)
        #expect(diagnostics.dampingRaises == 3)
        #expect(abs(diagnostics.dampingFraction - 10) < 1e-9)
        #expect(diagnostics.failures.count == 3)
        #expect(outcome.mask.prunedCount == 2)

        var v = Matrix(rows: 2, columns: 2, storage: [1, 2, 3, 4])
        #expect(throws: PruningError.self) {
            try SparseGPTPruner(maximumDampingRaises: 1).prune(&v, hessian: h, target: .ratio(0.5), name: "w")
        }
    }

    @Test func hessianOfTheWrongSizeIsNamed() {
        var w = Matrix(rows: 2, columns: 3)
        #expect(throws: PruningError.statisticsShape(name: "w", expected: "[3, 3] Hessian", actual: "[2, 2]")) {
            try SparseGPTPruner().prune(&w, hessian: Matrix(rows: 2, columns: 2), target: .ratio(0.5), name: "w")
        }
    }
}
