import Testing
import TensorCore
import Kernels
import Pruning

@Suite struct SparsityVerifierTests {
    @Test func preexistingZerosDoNotFailTheCheck() throws {
        // Row 0 already has 3 zeros; Wanda at 25% of 8 must choose exactly 2 per row.
        var weight = Matrix(rows: 2, columns: 8, storage: [0, 0, 0, 1, 2, 3, 4, 5,  1, 2, 3, 4, 5, 6, 7, 8])
        let norms = [Double](repeating: 1, count: 8)
        let outcome = try LinearPruner(method: .wanda).prune(&weight, target: .ratio(0.25), calibration: .inputNorms(norms), name: "w")
        try SparsityVerifier.verify(outcome, weight: weight, name: "w")
        try SparsityVerifier.verify(weight: weight, requirement: outcome.requirement, name: "w")
        #expect(SparsityReport.zeroCount(weight) == 5)
    }

    @Test func missingZerosAreNamedByRow() {
        let weight = Matrix(rows: 2, columns: 4, storage: [0, 0, 1, 1,  0, 1, 1, 1])
        #expect(throws: PruningError.sparsityMismatch(name: "blk.0.attn_q.weight", location: "row 1", expected: 2, actual: 1)) {
            try SparsityVerifier.verify(weight: weight, requirement: .perRow(zeros: 2), name: "blk.0.attn_q.weight")
        }
    }

    @Test func maskNotAppliedIsCaught() throws {
        var weight = Matrix(rows: 1, columns: 4, storage: [1, 2, 3, 4])
        var outcome = try LinearPruner(method: .magnitude).prune(&weight, target: .ratio(0.5), calibration: .none, name: "w")
        weight[0, 0] = 1
        #expect(throws: PruningError.self) { try SparsityVerifier.verify(outcome, weight: weight, name: "w") }
        outcome.mask.insert(row: 0, column: 3)
        #expect(throws: PruningError.sparsityMismatch(name: "w", location: "the matrix", expected: 2, actual: 3)) {
            try SparsityVerifier.verify(outcome, weight: weight, name: "w")
        }
    }
}
