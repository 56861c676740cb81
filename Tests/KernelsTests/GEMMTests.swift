import Testing
import TensorCore
import Kernels
import _TestSupport

/// Error bound of a Float dot product of length `k`, in any summation order: `γ_k·Σ|xᵢ·wᵢ|`
/// with `γ_k ≈ k·2⁻²⁴` (Higham, Accuracy and Stability, §3.1), plus the final rounding. The
/// scale `Σ|x|·|w|` comes from the reference on absolute values, so the test is tight where the
/// terms are small and never flaky where they cancel.
func dotBound(k: Int, scale: Double) -> Double { (Double(k) + 2) * unitRoundoff * scale + 1e-30 }

@Suite struct GEMMTests {
    static let shapes: [(t: Int, input: Int, output: Int)] = [
        (1, 1, 1), (1, 33, 7), (7, 33, 577), (33, 577, 7), (577, 7, 33), (3, 64, 16),
    ]

    @Test(arguments: shapes.indices)
    func linearMatchesReference(_ index: Int) {
        let (t, input, output) = Self.shapes[index]
        var generator = SeededGenerator(seed: UInt64(100 + index))
        let x = randomMatrix(t, input, &generator)
        let w = randomMatrix(output, input, &generator)
        let bias = generator.uniform(count: output)
        let initial = randomMatrix(t, output, &generator)
        let scale = Reference.linear(Reference.absolute(x), weight: Reference.absolute(w),
                                     bias: bias.map { abs($0) }, initial: Reference.absolute(initial))

        let plain = GEMM.linear(x, weight: w)
        expectWithin(plain.storage, Reference.linear(x, weight: w), bound: { dotBound(k: input, scale: scale[$0]) },
                     "X·Wᵀ \(t)×\(input)→\(output)")

        let biased = GEMM.linear(x, weight: w, bias: bias)
        expectWithin(biased.storage, Reference.linear(x, weight: w, bias: bias),
                     bound: { dotBound(k: input + 1, scale: scale[$0]) }, "X·Wᵀ + b")

        var accumulated = initial
        GEMM.linear(x, weight: w, bias: bias, into: &accumulated, accumulate: true)
        expectWithin(accumulated.storage, Reference.linear(x, weight: w, bias: bias, initial: initial),
                     bound: { dotBound(k: input + 2, scale: scale[$0]) }, "Y += X·Wᵀ + b")
    }

    @Test(arguments: [false, true], [false, true])
    func multiplyTransposes(transposeA: Bool, transposeB: Bool) {
        let (m, k, n) = (7, 33, 17)
        var generator = SeededGenerator(seed: 7)
        let a = randomMatrix(m, k, &generator)
        let b = randomMatrix(k, n, &generator)
        let c = GEMM.multiply(transposeA ? a.transposed() : a, transposeB ? b.transposed() : b,
                              transposeA: transposeA, transposeB: transposeB)
        #expect(c.rows == m && c.columns == n)
        let scale = Reference.multiply(Reference.absolute(a), Reference.absolute(b))
        expectWithin(c.storage, Reference.multiply(a, b), bound: { dotBound(k: k, scale: scale[$0]) },
                     "op(A)·op(B), transposeA \(transposeA) transposeB \(transposeB)")
    }

    @Test(arguments: [(1, 1), (7, 33), (577, 7), (33, 65)])
    func gramUpdateIsSymmetricAndMatches(rows: Int, columns: Int) {
        var generator = SeededGenerator(seed: UInt64(rows * 1000 + columns))
        let x = randomMatrix(rows, columns, &generator)
        let symmetricStart = GEMM.multiply(x, x, transposeA: true) // any symmetric H₀
        var h = symmetricStart
        GEMM.gramUpdate(x, into: &h, alpha: 0.5, beta: 1)
        let expected = Reference.gram(x, initial: symmetricStart, alpha: 0.5, beta: 1)
        let scale = Reference.gram(Reference.absolute(x), initial: Reference.absolute(symmetricStart), alpha: 0.5, beta: 1)
        expectWithin(h.storage, expected, bound: { dotBound(k: 2 * rows + 1, scale: scale[$0]) }, "H += ½XᵀX")
        for i in 0..<columns { for j in 0..<i { #expect(h[i, j] == h[j, i], "H symmetric at (\(i), \(j))") } }
    }

    @Test(arguments: [(1, 1), (7, 33), (577, 65)], [false, true])
    func gemvMatchesReference(shape: (Int, Int), transpose: Bool) {
        let (rows, columns) = shape
        var generator = SeededGenerator(seed: UInt64(rows + columns))
        let w = randomMatrix(rows, columns, &generator)
        let effective = transpose ? w.transposed() : w // [outputs, inputs]
        let x = randomMatrix(1, effective.columns, &generator)
        let bias = generator.uniform(count: effective.rows)
        let initial = generator.uniform(count: effective.rows)
        var y = initial
        w.storage.withUnsafeBufferPointer { wb in
            x.storage.withUnsafeBufferPointer { xb in
                bias.withUnsafeBufferPointer { bb in
                    y.withUnsafeMutableBufferPointer { yb in
                        GEMV.apply(weight: wb.baseAddress!, rows: rows, columns: columns, transpose: transpose,
                                   x: xb.baseAddress!, bias: bb.baseAddress!, output: yb.baseAddress!, accumulate: true)
                    }
                }
            }
        }
        let yMatrix = Matrix(rows: 1, columns: effective.rows, storage: initial)
        let expected = Reference.linear(x, weight: effective, bias: bias, initial: yMatrix)
        let scale = Reference.linear(Reference.absolute(x), weight: Reference.absolute(effective),
                                     bias: bias.map { abs($0) }, initial: Reference.absolute(yMatrix))
        expectWithin(y, expected, bound: { dotBound(k: effective.columns + 2, scale: scale[$0]) },
                     "W·x + b + y, transpose \(transpose)")
        let plain = GEMV.apply(effective, x.storage)
        expectWithin(plain, Reference.linear(x, weight: effective), bound: { dotBound(k: effective.columns, scale: scale[$0]) },
                     "W·x")
    }

    /// The tiled linear on our own threads: the reference within the dot-product bound (tiles that
    /// do and do not divide the shape, bias, accumulate), and the same bits for 1, 2, 3 and 5 threads.
    @Test(arguments: [(1, 7, 3), (300, 65, 513), (513, 576, 1100), (256, 32, 512)], [false, true])
    func tiledLinearMatchesReferenceForAnyThreadCount(shape: (Int, Int, Int), accumulate: Bool) {
        let (t, input, output) = shape
        var generator = SeededGenerator(seed: UInt64(t * 31 + input * 7 + output))
        let x = randomMatrix(t, input, &generator), w = randomMatrix(output, input, &generator)
        let bias = generator.uniform(count: output), initial = generator.uniform(count: t * output)
        func run(_ threads: Int) -> [Float] {
            var y = accumulate ? initial : [Float](repeating: .nan, count: t * output)
            x.storage.withUnsafeBufferPointer { xb in
                w.storage.withUnsafeBufferPointer { wb in
                    bias.withUnsafeBufferPointer { bb in
                        GEMM.linear(input: xb.baseAddress!, tokens: t, inputSize: input, weight: wb.baseAddress!, outputSize: output,
                                    bias: bb.baseAddress!, output: &y, accumulate: accumulate, threads: ComputeThreads(threads))
                    }
                }
            }
            return y
        }
        let one = run(1)
        let start = Matrix(rows: t, columns: output, storage: accumulate ? initial : [Float](repeating: 0, count: t * output))
        let expected = Reference.linear(x, weight: w, bias: bias, initial: start)
        let scale = Reference.linear(Reference.absolute(x), weight: Reference.absolute(w), bias: bias.map { abs($0) },
                                     initial: Reference.absolute(start))
        expectWithin(one, expected, bound: { dotBound(k: input + 2, scale: scale[$0]) }, "tiled X·Wᵀ + b")
        for threads in [2, 3, 5] {
            #expect(run(threads).map(\.bitPattern) == one.map(\.bitPattern), "\(threads) threads changed bits")
        }
    }

    @Test func emptyInnerDimensionLeavesBias() {
        let x = Matrix(rows: 2, columns: 0)
        let w = Matrix(rows: 3, columns: 0)
        let y = GEMM.linear(x, weight: w, bias: [1, 2, 3])
        #expect(y.storage == [1, 2, 3, 1, 2, 3])
    }
}
