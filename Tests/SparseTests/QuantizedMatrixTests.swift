import Kernels
import Sparse
import TensorCore
import TensorIO
import Testing

/// Quantized (Q8_0 / Q4_0 grid) matrices, sparse and dense: built from ggml blocks they hold the
/// blocks' values exactly, their mask is the non-zero codes, and every kernel equals the
/// reference twin, which itself is within the activation-quantization bound of the exact product.
@Suite struct QuantizedMatrixTests {
    // 2144 and 4096 columns span more than one of the AVX2 dense Q4_0 loop's 2048-column tiles.
    static let shapes = [(1, 32), (3, 64), (7, 96), (16, 128), (9, 576), (33, 160), (5, 2144), (2, 4096)]
    static let sparsities = [0.0, 0.5, 0.7, 0.95, 1.0]

    static func blocks(_ m: Matrix, _ type: QuantizedType) -> [UInt8] {
        quantize(m.storage, as: type == .q8_0 ? .q8_0 : .q4_0)
    }

    static func dequantized(_ bytes: [UInt8], _ m: Matrix, _ type: QuantizedType) -> [Float] {
        var out = [Float](repeating: 0, count: m.count)
        bytes.withUnsafeBytes { b in
            out.withUnsafeMutableBufferPointer { dequantize(type == .q8_0 ? .q8_0 : .q4_0, bytes: b, count: m.count, into: $0.baseAddress!) }
        }
        return out
    }

    static func matrix(_ bytes: [UInt8], _ m: Matrix, _ type: QuantizedType, sparse: Bool) -> QuantizedMatrix {
        bytes.withUnsafeBytes { QuantizedMatrix(blocks: $0, rows: m.rows, columns: m.columns, type: type, sparse: sparse) }
    }

    /// Calls `body(source, its blocks, their dequantized values, sparsity, seed)` for every shape
    /// and sparsity (seeded from `seed` on; some rows all zero in the taller shapes).
    static func forEachCase(_ type: QuantizedType, seed: UInt64,
                            _ body: (_ source: Matrix, _ bytes: [UInt8], _ weights: [Float], _ sparsity: Double, _ seed: UInt64) -> Void) {
        var seed = seed
        for (rows, columns) in shapes {
            for sparsity in sparsities {
                seed += 1
                let source = randomSparse(rows: rows, columns: columns, sparsity: sparsity, seed: seed, emptyRows: rows > 4)
                let bytes = blocks(source, type)
                body(source, bytes, dequantized(bytes, source, type), sparsity, seed)
            }
        }
    }

    @Test(arguments: QuantizedType.allCases)
    func holdsTheBlocksExactly(_ type: QuantizedType) {
        Self.forEachCase(type, seed: 100) { source, bytes, expected, sparsity, _ in
            let (rows, columns) = (source.rows, source.columns)
            for sparse in [false, true] {
                let q = Self.matrix(bytes, source, type, sparse: sparse)
                #expect(q.dense().storage == expected, "\(type) \(rows)×\(columns) at \(sparsity), sparse \(sparse)")
                if sparse {
                    // Stored exactly where the blocks hold a non-zero value: the pruned zeros are
                    // unstored (and a weight that rounded to zero as well).
                    let stored = expected.filter { $0 != 0 }.count
                    #expect(q.storedCount == stored)
                    #expect(source.storage.filter { $0 != 0 }.count >= stored)
                } else {
                    #expect(q.storedCount == rows * columns && q.mask.isEmpty)
                }
            }
        }
    }

    @Test(arguments: QuantizedType.allCases)
    func kernelsMatchTheReferenceTwin(_ type: QuantizedType) {
        Self.forEachCase(type, seed: 500) { source, bytes, weights, sparsity, seed in
            let (rows, columns) = (source.rows, source.columns)
            let x = randomVector(columns, seed: seed + 7).map { $0 * 3 }
            var vector = QuantizedVector(columns: columns)
            x.withUnsafeBufferPointer { vector.set($0.baseAddress!, columns: columns) }
            for sparse in [false, true] {
                let q = Self.matrix(bytes, source, type, sparse: sparse)
                var reference = [Float](repeating: .nan, count: rows)
                reference.withUnsafeMutableBufferPointer { q.referenceMultiply(vector, into: $0.baseAddress!) }
                for r in 0..<rows {
                    // The twin against the exact product: off by at most the vector's rounding,
                    // half a step d_g per column, times |w|.
                    var exact = 0.0, bound = 0.0
                    for c in 0..<columns {
                        let w = Double(weights[r * columns + c])
                        exact += w * Double(x[c])
                        bound += abs(w) * (Double(vector.scales[c / 32]) / 2 + 1e-7 * abs(Double(x[c])))
                    }
                    #expect(abs(Double(reference[r]) - exact) <= bound * 1.001 + 1e-6,
                            "\(type) \(rows)×\(columns) at \(sparsity) row \(r): \(reference[r]) vs \(exact)")
                }
                for kernel in QuantizedKernel.available where kernel != .reference {
                    for threads in [ComputeThreads.single, ComputeThreads(2)] {
                        var y = [Float](repeating: .nan, count: rows)
                        y.withUnsafeMutableBufferPointer { q.multiply(vector, into: $0.baseAddress!, kernel: kernel, threads: threads) }
                        for r in 0..<rows {
                            var magnitude: Float = 0
                            for c in 0..<columns { magnitude += abs(weights[r * columns + c] * x[c]) }
                            #expect(abs(y[r] - reference[r]) <= 1e-5 * magnitude + 1e-6,
                                    "\(kernel) \(type) \(rows)×\(columns) at \(sparsity) sparse \(sparse) row \(r): \(y[r]) vs \(reference[r])")
                        }
                    }
                }
            }
        }
    }

    /// The vector's codes: round half away from zero of x / (max|x| / 127), zero for a zero group.
    @Test func vectorQuantization() {
        var v = QuantizedVector(columns: 64)
        var x = [Float](repeating: 0, count: 64)
        x[0] = -2.54; x[1] = 1.27; x[2] = 0.005; x[3] = 0.015
        x.withUnsafeBufferPointer { v.set($0.baseAddress!, columns: 64) }
        #expect(v.scales[0] == Float(2.54) / 127 && v.scales[1] == 0)
        #expect(Array(v.codes[0..<4]) == [-127, 64, 0, 1])
        #expect(v.codes[32...].allSatisfy { $0 == 0 })
    }

    /// Prefill of many tokens multiplies tiles of the dequantized rows (the expand loop equals its
    /// twin); of a few, runs the GEMV per token (the input quantized, within its rounding bound).
    @Test(arguments: QuantizedType.allCases)
    func prefillMultipliesTheDequantizedWeights(_ type: QuantizedType) {
        for sparse in [false, true] {
            let source = randomSparse(rows: 40, columns: 96, sparsity: 0.7, seed: 9, emptyRows: true)
            let q = Self.matrix(Self.blocks(source, type), source, type, sparse: sparse)
            let w = q.dense()
            for kernel in QuantizedKernel.available {
                var tile = [Float](repeating: .nan, count: 13 * 96)
                tile.withUnsafeMutableBufferPointer { q.expand(rows: 20..<33, into: $0.baseAddress!, kernel: kernel) }
                #expect(tile == Array(w.storage[(20 * 96)..<(33 * 96)]), "\(kernel) expand, sparse \(sparse)")
            }
            for count in [3, 9] {
                let x = Matrix(rows: count, columns: 96, storage: randomVector(count * 96, seed: 10))
                var y = [Float](repeating: 0, count: count * 40)
                x.storage.withUnsafeBufferPointer { xb in
                    y.withUnsafeMutableBufferPointer { q.multiply(tokens: xb.baseAddress!, count: count, into: $0.baseAddress!) }
                }
                for t in 0..<count {
                    for r in 0..<40 {
                        var exact: Float = 0, magnitude: Float = 0
                        for c in 0..<96 {
                            exact += x.storage[t * 96 + c] * w.storage[r * 96 + c]
                            magnitude += abs(w.storage[r * 96 + c])
                        }
                        // Tiles: float rounding only; GEMV: half a step of x's scale (≤ 1/127) per |w|.
                        let bound: Float = count > QuantizedMatrix.tokensThroughGEMV ? 1e-4 : magnitude / 254 * 1.01 + 1e-5
                        #expect(abs(y[t * 40 + r] - exact) <= bound, "\(type) \(count) tokens, sparse \(sparse)")
                    }
                }
            }
        }
    }
}

extension QuantizedMatrixTests {
    /// The vector loop gives the twin's codes and scales, ties (x · 1/d exactly k + ½) included.
    @Test func vectorLoopMatchesTheTwin() {
        var generator = SeededGenerator(seed: 77)
        for trial in 0..<200 {
            let columns = 32 * (1 + trial % 5)
            var x = (0..<columns).map { _ in Float(Double(generator.next() >> 11) / Double(1 << 53) * 2 - 1) * 4 }
            if trial % 3 == 0 {
                // Values on half steps of a scale 1: max 127 → d = 1, codes of k + ½ are ties.
                for c in 0..<columns { x[c] = Float(Int(generator.next() % 254) - 127) / 2 }
                x[0] = 127
            }
            if trial % 7 == 0 { for c in 0..<32 { x[c] = 0 } }
            var fast = QuantizedVector(columns: columns), twin = QuantizedVector(columns: columns)
            x.withUnsafeBufferPointer {
                fast.set($0.baseAddress!, columns: columns)
                twin.referenceSet($0.baseAddress!, columns: columns)
            }
            #expect(fast.codes == twin.codes && fast.scales == twin.scales, "trial \(trial)")
        }
    }
}
