import Testing
import TensorCore
import Kernels
import _TestSupport

@Suite struct ElementwiseKernelTests {
    static let sizes = [1, 7, 16, 33, 577]

    /// RMSNorm relative error: the Float sum of squares is within `D·u` (recursive-summation
    /// bound, any order), the square root halves that, and the reciprocal, the two products
    /// and the weight offset add about 4u more.
    @Test(arguments: sizes)
    func rmsNormMatchesReference(columns: Int) {
        var generator = SeededGenerator(seed: UInt64(columns))
        let x = randomMatrix(5, columns, scale: 3, &generator)
        let weight = generator.uniform(count: columns, scale: 2)
        for offset: Float in [0, 1] {
            let y = RMSNormKernel.apply(x, weight: weight, weightOffset: offset, epsilon: 1e-5)
            let expected = Reference.rmsNorm(x, weight: weight, weightOffset: Double(offset), epsilon: 1e-5)
            let relative = (Double(columns) / 2 + 6) * unitRoundoff
            expectWithin(y.storage, expected, bound: { relative * abs(expected[$0]) + 1e-30 },
                         "RMSNorm D=\(columns) offset \(offset)")
        }
    }

    @Test func rmsNormInPlace() {
        var generator = SeededGenerator(seed: 3)
        let x = randomMatrix(3, 33, &generator)
        let weight = generator.uniform(count: 33)
        var buffer = x.storage
        buffer.withUnsafeMutableBufferPointer { b in
            weight.withUnsafeBufferPointer { w in
                RMSNormKernel.apply(input: b.baseAddress!, rows: 3, columns: 33, weight: w.baseAddress!,
                                    epsilon: 1e-6, output: b.baseAddress!)
            }
        }
        let expected = RMSNormKernel.apply(x, weight: weight, epsilon: 1e-6)
        expectWithin(buffer, expected.storage.map(Double.init), bound: { _ in 0 }, "in place = out of place")
    }

    /// SiLU: `VectorMath.exp` is within 2 ulp, `1 + e` and the division add one rounding each,
    /// the product with `up` one more: 6u covers it with margin (relative, plus a tiny absolute
    /// floor for results that underflow).
    @Test(arguments: sizes)
    func siluAndSwiGLUMatchReference(count: Int) {
        var generator = SeededGenerator(seed: UInt64(10 + count))
        var gate = generator.uniform(count: count, scale: 12)
        if count > 3 { gate[0] = -100; gate[1] = 100; gate[2] = 0 }
        let up = generator.uniform(count: count, scale: 2)
        let s = ActivationKernel.silu(gate)
        let expectedS = gate.map(Reference.silu)
        expectWithin(s, expectedS, bound: { 6 * unitRoundoff * abs(expectedS[$0]) + 1e-38 }, "SiLU n=\(count)")
        let g = ActivationKernel.swiGLU(gate: gate, up: up)
        let expectedG = zip(gate, up).map { Reference.swiGLU(gate: $0, up: $1) }
        expectWithin(g, expectedG, bound: { 7 * unitRoundoff * abs(expectedG[$0]) + 1e-38 }, "SwiGLU n=\(count)")
    }

    /// Residual add is one correctly rounded Float addition per element: within half an ulp of
    /// the exact sum.
    @Test(arguments: sizes)
    func addMatchesReference(count: Int) {
        var generator = SeededGenerator(seed: UInt64(20 + count))
        let x = randomMatrix(1, count, &generator)
        var y = randomMatrix(1, count, &generator)
        let expected = zip(x.storage, y.storage).map { Double($0) + Double($1) }
        ElementwiseKernel.add(x, into: &y)
        expectWithin(y.storage, expected, bound: { unitRoundoff * abs(expected[$0]) + 1e-38 }, "y += x n=\(count)")
    }

    /// Softmax: each `e^(x−m)` has the 2-ulp exp error plus `|x − m|·u` from rounding the
    /// shifted argument (|x − m| ≤ 2·scale); the Float sum adds `n·u`; the final scaling one
    /// more rounding.
    @Test(arguments: sizes)
    func softmaxMatchesReference(count: Int) {
        var generator = SeededGenerator(seed: UInt64(30 + count))
        let scale: Float = 8
        let x = randomMatrix(3, count, scale: scale, &generator)
        let y = SoftmaxKernel.apply(x)
        for r in 0..<3 {
            let expected = Reference.softmax(x.row(r))
            let relative = (4 + 2 * Double(scale) + Double(count)) * unitRoundoff
            expectWithin(y.row(r), expected, bound: { relative * expected[$0] + 1e-38 }, "softmax n=\(count) row \(r)")
            let total = y.row(r).reduce(0.0) { $0 + Double($1) }
            #expect(abs(total - 1) <= relative * 2)
        }
    }

    @Test func softmaxMaskedAndExtremeRows() {
        var row: [Float] = [1000, -.infinity, 999, -.infinity, 998, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        row.withUnsafeMutableBufferPointer { SoftmaxKernel.applyRow($0.baseAddress!, count: $0.count) }
        #expect(row[1] == 0 && row[3] == 0)
        let expected = Reference.softmax([1000, 999, 998])
        #expect(abs(Double(row[0]) - expected[0]) < 1e-6 && abs(Double(row[4]) - expected[2]) < 1e-6)
        var masked = [Float](repeating: -.infinity, count: 20)
        masked.withUnsafeMutableBufferPointer { SoftmaxKernel.applyRow($0.baseAddress!, count: $0.count) }
        #expect(masked.allSatisfy { $0 == 0 })
    }

    /// log-sum-exp: the exponentials carry the softmax bound above (relative to the sum), which
    /// becomes an absolute error of that size after the logarithm; the max itself is exact.
    @Test(arguments: sizes + [49_152])
    func logSumExpMatchesReference(count: Int) {
        var generator = SeededGenerator(seed: UInt64(40 + count))
        let scale: Float = 20
        let x = randomMatrix(1, count, scale: scale, &generator)
        let got = x.storage.withUnsafeBufferPointer { SoftmaxKernel.logSumExp($0.baseAddress!, count: count) }
        let expected = Reference.logSumExp(x.storage)
        let bound = (4 + 2 * Double(scale) + Double(count).squareRoot() * 4) * unitRoundoff * 2
        #expect(abs(got - expected) <= bound, "logSumExp n=\(count): \(got) vs \(expected)")
    }
}
