import Testing
import TensorCore
import Kernels
import Pruning

@Suite struct BlockScoreStatisticsTests {
    func linears(seed: UInt64, extraElement: Bool) -> [BlockScoreStatistics.Linear] {
        var generator = SeededGenerator(seed: seed)
        let shapes = [(12, 7), (5, 7), (5, 7), (7, 12), (19, 7), (19, 7), (7, extraElement ? 19 : 18)]
        return shapes.enumerated().map { i, shape in
            // Quantised weights produce many exactly equal scores.
            let w = Matrix(rows: shape.0, columns: shape.1,
                           storage: (0..<(shape.0 * shape.1)).map { _ in Float(Int(generator.next() % 17)) / 8 - 1 })
            let s = (0..<shape.1).map { _ in Double(generator.nextSignedUnit() + 1.1) }
            return BlockScoreStatistics.Linear(weight: w, squaredNorms: s, name: "linear \(i)")
        }
    }

    @Test(arguments: [false, true])
    func medianMeanAndOutliersMatchDirectComputation(_ extra: Bool) throws {
        let input = linears(seed: extra ? 5 : 6, extraElement: extra)
        var pooled: [Float] = []
        for l in input {
            for r in 0..<l.weight.rows {
                for c in 0..<l.weight.columns { pooled.append(abs(l.weight[r, c]) * Float(l.squaredNorms[c].squareRoot())) }
            }
        }
        let sorted = pooled.sorted()
        let stats = try BlockScoreStatistics.compute(input, outlierThreshold: 1.5, threads: ComputeThreads(3))
        #expect(stats.count == pooled.count)
        #expect(stats.median == Double(sorted[(pooled.count - 1) / 2]), "lower median, count \(pooled.count)")
        let mean = pooled.reduce(0.0) { $0 + Double($1) } / Double(pooled.count)
        #expect(abs(stats.mean - mean) < 1e-12 * mean)
        #expect(stats.maximum == Double(sorted.last!))
        let outliers = pooled.filter { $0 > Float(1.5 * mean) }.count
        #expect(stats.outlierRatio == 100 * Double(outliers) / Double(pooled.count))
        let single = try BlockScoreStatistics.compute(input, outlierThreshold: 1.5, threads: .single)
        #expect(single.median == stats.median)
    }

    @Test func normsOfTheWrongSizeAreNamed() {
        let l = BlockScoreStatistics.Linear(weight: Matrix(rows: 2, columns: 3), squaredNorms: [1, 1], name: "blk.0.attn_v.weight")
        #expect(throws: PruningError.statisticsShape(name: "blk.0.attn_v.weight", expected: "[3] input norms", actual: "[2]")) {
            try BlockScoreStatistics.compute([l])
        }
    }
}
