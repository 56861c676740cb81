import Testing
import TensorCore

/// Float's unit roundoff, `2⁻²⁴`: the relative error of one correctly rounded operation.
let unitRoundoff = 0x1p-24

/// A `[rows, columns]` matrix of uniform values in `[-scale, scale)`.
func randomMatrix(_ rows: Int, _ columns: Int, scale: Float = 1, _ generator: inout SeededGenerator) -> Matrix {
    Matrix(rows: rows, columns: columns, storage: generator.uniform(count: rows * columns, scale: scale))
}

/// Expects `|actual[i] − expected[i]| ≤ bound(i)` for every `i` (a NaN fails), reporting the
/// worst element.
func expectWithin(_ actual: [Float], _ expected: [Double], bound: (Int) -> Double,
                  _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(what): count", sourceLocation: sourceLocation)
    var worst: (index: Int, excess: Double)?
    for i in 0..<min(actual.count, expected.count) {
        let error = abs(Double(actual[i]) - expected[i])
        let allowed = bound(i)
        let excess = error <= allowed ? 0 : (allowed > 0 ? error / allowed : .infinity)
        if !(excess <= 1), worst == nil || excess > (worst?.excess ?? 0) { worst = (i, excess) }
    }
    if let worst {
        Issue.record("\(what): element \(worst.index) is \(actual[worst.index]), expected \(expected[worst.index]) (error \(worst.excess)× the bound)",
                     sourceLocation: sourceLocation)
    }
}
