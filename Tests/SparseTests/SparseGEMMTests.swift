import Kernels
import Sparse
import TensorCore
import Testing

/// The sparse GEMM (`Y = X·Wᵀ` by tiles of 64 tokens, work in proportion to the non-zeros)
/// against its reference twin and against the dense product: odd shapes (columns that are no
/// multiple of 64, rows of no non-zero), token counts around the tile width, bias and
/// accumulation, row strides, and the same bits whatever the thread count (tiles split between
/// threads, or rows when there are fewer tiles than threads).
@Suite struct SparseGEMMTests {
    @Test(.enabled(if: SparseKernel.avx2.supports(.f32)))
    func sparseGEMMMatchesTheReferenceTwin() {
        var seed: UInt64 = 900
        for (rows, columns) in [(1, 1), (7, 33), (9, 100), (130, 100), (64, 576), (3, 1000)] {
            for sparsity in [0.0, 0.7, 1.0] {
                seed += 1
                let dense = randomSparse(rows: rows, columns: columns, sparsity: sparsity, seed: seed, emptyRows: rows > 4)
                let sparse = SparseMatrix(dense, valueType: .f32)
                #expect(sparse.runsSparseGEMM)
                let bias = randomVector(rows, seed: seed + 7)
                for count in [1, 5, 64, 65, 200] {
                    let x = randomVector(count * columns, seed: seed &* 31 &+ UInt64(count))
                    let start = randomVector(count * rows, seed: seed &* 37 &+ UInt64(count))
                    for (withBias, accumulate) in [(false, false), (true, false), (true, true)] {
                        var reference = start
                        x.withUnsafeBufferPointer { xb in
                            bias.withUnsafeBufferPointer { bb in
                                reference.withUnsafeMutableBufferPointer {
                                    sparse.referenceMultiplySparse(tokens: xb.baseAddress!, count: count, into: $0.baseAddress!,
                                                                   bias: withBias ? bb.baseAddress! : nil, accumulate: accumulate)
                                }
                            }
                        }
                        var first: [Float]?
                        for threads in [1, 2, 3] {
                            let out = Self.product(sparse, x, count: count, start: start, bias: withBias ? bias : nil,
                                                   accumulate: accumulate, threads: threads)
                            if let first { #expect(out == first, "\(rows)×\(columns) \(count) tokens: \(threads) threads differ from 1") }
                            first = first ?? out
                            // Each output within the rounding of its sum: n·2⁻²³ of the sum of |terms|.
                            var worst = 0.0
                            for t in 0..<count {
                                for r in 0..<rows {
                                    var magnitude = 0.0
                                    for c in 0..<columns { magnitude += abs(Double(dense.storage[r * columns + c]) * Double(x[t * columns + c])) }
                                    let error = abs(Double(out[t * rows + r]) - Double(reference[t * rows + r]))
                                    worst = max(worst, error / (magnitude * Double(columns + 2) * 0x1p-23 + 1e-30))
                                }
                            }
                            #expect(worst <= 1, "\(rows)×\(columns) at \(sparsity), \(count) tokens, bias \(withBias), accumulate \(accumulate), \(threads) threads: \(worst) of the bound")
                        }
                    }
                    // Dense product (BLAS) of the same matrix, for the sense of the reference itself.
                    if sparsity == 0.7 {
                        var expected = [Float](repeating: 0, count: count * rows)
                        for t in 0..<count {
                            for r in 0..<rows {
                                var sum = 0.0
                                for c in 0..<columns { sum += Double(dense.storage[r * columns + c]) * Double(x[t * columns + c]) }
                                expected[t * rows + r] = Float(sum)
                            }
                        }
                        let out = Self.product(sparse, x, count: count, start: start, bias: nil, accumulate: false, threads: 2)
                        let scale = expected.map { abs($0) }.max() ?? 0
                        #expect(zip(out, expected).allSatisfy { abs($0 - $1) <= 1e-5 * max(scale, 1) }, "\(rows)×\(columns), \(count) tokens")
                    }
                }
            }
        }
    }

    /// Row strides: the padding of both matrices is neither read into the result nor written.
    @Test(.enabled(if: SparseKernel.avx2.supports(.f32)))
    func rowStridesAreKept() {
        let (rows, columns, count) = (70, 90, 67)
        let dense = randomSparse(rows: rows, columns: columns, sparsity: 0.6, seed: 77)
        let sparse = SparseMatrix(dense, valueType: .f32)
        let x = randomVector(count * columns, seed: 78)
        let (ldx, ldy) = (columns + 3, rows + 2)
        var padded = [Float](repeating: .nan, count: count * ldx)
        for t in 0..<count { for c in 0..<columns { padded[t * ldx + c] = x[t * columns + c] } }
        var y = [Float](repeating: -7, count: count * ldy)
        padded.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer {
                sparse.multiplySparse(tokens: xb.baseAddress!, count: count, inputStride: ldx, into: $0.baseAddress!,
                                      outputStride: ldy, threads: ComputeThreads(2))
            }
        }
        let compact = Self.product(sparse, x, count: count, start: [Float](repeating: 0, count: count * rows), bias: nil,
                                   accumulate: false, threads: 1)
        for t in 0..<count {
            #expect(Array(y[(t * ldy)..<(t * ldy + rows)]) == Array(compact[(t * rows)..<(t * rows + rows)]), "token \(t)")
            #expect(y[(t * ldy + rows)..<(t * ldy + ldy)].allSatisfy { $0 == -7 }, "token \(t): padding written")
        }
    }

    static func product(_ sparse: SparseMatrix, _ x: [Float], count: Int, start: [Float], bias: [Float]?, accumulate: Bool,
                        threads: Int) -> [Float] {
        var out = start
        x.withUnsafeBufferPointer { xb in
            out.withUnsafeMutableBufferPointer { ob in
                if let bias {
                    bias.withUnsafeBufferPointer { bb in
                        sparse.multiplySparse(tokens: xb.baseAddress!, count: count, into: ob.baseAddress!, bias: bb.baseAddress!,
                                              accumulate: accumulate, threads: ComputeThreads(threads))
                    }
                } else {
                    sparse.multiplySparse(tokens: xb.baseAddress!, count: count, into: ob.baseAddress!, accumulate: accumulate,
                                          threads: ComputeThreads(threads))
                }
            }
        }
        return out
    }
}
