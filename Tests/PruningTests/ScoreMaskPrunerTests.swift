import Testing
import TensorCore
import Kernels
import _TestSupport
import Pruning

@Suite struct ScoreMaskPrunerTests {
    static let shapes: [(rows: Int, columns: Int, ratio: Double)] = [(7, 37, 0.5), (13, 101, 0.7), (5, 64, 0.29), (3, 9, 0)]

    @Test(arguments: shapes.indices)
    func wandaPrunesExactlyFloorPerRowLikeStableSort(_ index: Int) throws {
        let (rows, columns, ratio) = Self.shapes[index]
        var generator = SeededGenerator(seed: UInt64(10 + index))
        let original = randomMatrix(rows, columns, &generator)
        let norms = (0..<columns).map { _ in Double(generator.nextSignedUnit() + 1.5) }
        var weight = original
        let outcome = try ScoreMaskPruner.prune(&weight, score: .wanda(squaredNorms: norms), group: .row,
                                                target: .ratio(ratio), name: "w", threads: ComputeThreads(3))
        let k = Int(Double(columns) * ratio)
        for r in 0..<rows { #expect(outcome.mask.prunedCount(row: r) == k) }
        try SparsityVerifier.verify(outcome, weight: weight, name: "w")
        // Same mask as a stable sort of |W|·sqrt(s) per row.
        var scores = original
        for r in 0..<rows { for c in 0..<columns { scores[r, c] = abs(original[r, c]) * Float(norms[c].squareRoot()) } }
        let expected = Reference.lowestPerSpan(scores, span: columns, k: k)
        for r in 0..<rows { for c in 0..<columns { #expect(outcome.mask[r, c] == expected[r * columns + c]) } }
    }

    @Test func wandaWithEqualNormsIsPerRowMagnitude() throws {
        var generator = SeededGenerator(seed: 3)
        let original = randomMatrix(11, 53, &generator)
        var wanda = original, magnitude = original
        let a = try ScoreMaskPruner.prune(&wanda, score: .wanda(squaredNorms: [Double](repeating: 2.25, count: 53)),
                                          group: .row, target: .ratio(0.6), name: "w")
        let b = try ScoreMaskPruner.prune(&magnitude, score: .magnitude, group: .row, target: .ratio(0.6), name: "w")
        #expect(a.mask == b.mask)
        #expect(wanda == magnitude)
    }

    @Test(arguments: [(9, 47, 0.5), (16, 33, 0.73), (1, 1, 0.5)])
    func magnitudePrunesExactlyFloorOfNumel(_ rows: Int, _ columns: Int, _ ratio: Double) throws {
        var generator = SeededGenerator(seed: UInt64(rows * columns))
        // Quantised values: many ties, and some exact zeros already present.
        let original = Matrix(rows: rows, columns: columns,
                              storage: (0..<(rows * columns)).map { _ in Float(Int(generator.next() % 9)) - 4 })
        var weight = original
        let outcome = try LinearPruner(method: .magnitude).prune(&weight, target: .ratio(ratio), calibration: .none, name: "w")
        let k = Int(Double(rows * columns) * ratio)
        #expect(outcome.mask.prunedCount == k)
        #expect(outcome.requirement == .perMatrix(zeros: k))
        try SparsityVerifier.verify(outcome, weight: weight, name: "w")
        let expected = Reference.lowestIndices(original.storage.map { abs($0) }, k)
        for f in 0..<(rows * columns) { #expect(outcome.mask[f / columns, f % columns] == expected.contains(f)) }
    }

    @Test(arguments: [(2, 4), (4, 8), (3, 4), (1, 3)])
    func nmGroupsAreExactForMagnitudeAndWanda(_ zeros: Int, _ group: Int) throws {
        var generator = SeededGenerator(seed: UInt64(zeros * 10 + group))
        let columns = group * 13
        let original = randomMatrix(7, columns, &generator)
        let norms = (0..<columns).map { _ in Double(generator.nextSignedUnit() + 1.2) }
        for method in [PruningMethod.magnitude, .wanda] {
            var weight = original
            let outcome = try LinearPruner(method: method, threads: ComputeThreads(2))
                .prune(&weight, target: .nm(zeros: zeros, group: group),
                       calibration: method == .wanda ? .inputNorms(norms) : .none, name: "w")
            try SparsityVerifier.verify(outcome, weight: weight, name: "w")
            try SparsityVerifier.verify(weight: weight, requirement: .perGroup(zeros: zeros, group: group), name: "w")
            for r in 0..<7 {
                for start in stride(from: 0, to: columns, by: group) {
                    #expect(outcome.mask.prunedCount(row: r, columns: start..<(start + group)) == zeros)
                }
            }
        }
    }

    @Test func groupMustDivideTheInputs() {
        var weight = Matrix(rows: 2, columns: 10)
        #expect(throws: PruningError.groupDoesNotDivide(name: "w", columns: 10, group: 4)) {
            try LinearPruner(method: .magnitude).prune(&weight, target: .nm(zeros: 2, group: 4), calibration: .none, name: "w")
        }
    }

    @Test func nonFiniteWeightIsNamed() {
        var weight = Matrix(rows: 3, columns: 4)
        weight[2, 1] = .nan
        #expect(throws: PruningError.nonFiniteValue(name: "w", row: 2, column: 1)) {
            try ScoreMaskPruner.prune(&weight, score: .magnitude, group: .row, target: .ratio(0.5), name: "w",
                                      threads: ComputeThreads(2))
        }
    }

    @Test func sameInputsGiveBitIdenticalMasks() throws {
        var generator = SeededGenerator(seed: 99)
        let original = randomMatrix(31, 77, &generator)
        let norms = (0..<77).map { _ in Double(generator.nextSignedUnit() + 1.1) }
        var a = original, b = original
        let ma = try LinearPruner(method: .wanda, threads: .single).prune(&a, target: .ratio(0.55), calibration: .inputNorms(norms), name: "w")
        let mb = try LinearPruner(method: .wanda, threads: ComputeThreads(4)).prune(&b, target: .ratio(0.55), calibration: .inputNorms(norms), name: "w")
        #expect(ma == mb)
        #expect(a == b)
    }
}
