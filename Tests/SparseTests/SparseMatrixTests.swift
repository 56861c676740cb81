import Kernels
import Sparse
import TensorCore
import Testing

/// A `[rows, columns]` matrix with about `sparsity` of its weights exactly zero (seeded), some
/// rows entirely zero when `emptyRows`.
func randomSparse(rows: Int, columns: Int, sparsity: Double, seed: UInt64, emptyRows: Bool = false) -> Matrix {
    var generator = SeededGenerator(seed: seed)
    var m = Matrix(rows: rows, columns: columns)
    for r in 0..<rows {
        let skip = emptyRows && r % 3 == 1
        for c in 0..<columns {
            let u = Double(generator.next() >> 11) / Double(1 << 53)
            let v = Float(Double(generator.next() >> 11) / Double(1 << 53) * 2 - 1)
            m.storage[r * columns + c] = skip || u < sparsity ? 0 : v
        }
    }
    return m
}

func randomVector(_ n: Int, seed: UInt64) -> [Float] {
    var generator = SeededGenerator(seed: seed)
    return (0..<n).map { _ in Float(Double(generator.next() >> 11) / Double(1 << 53) * 2 - 1) }
}

@Suite struct SparseMatrixTests {
    static let shapes = [(1, 1), (3, 7), (5, 17), (4, 31), (7, 33), (16, 64), (9, 100), (6, 129), (3, 576), (2, 1000)]
    static let sparsities = [0.0, 0.5, 0.7, 0.95, 1.0]

    /// Every fast kernel equals the reference twin, and the twin equals a dense product of the
    /// decompressed matrix: odd shapes, empty rows, 0–100% sparsity, every value type.
    @Test(arguments: SparseValueType.allCases)
    func kernelsMatchTheReferenceTwin(_ type: SparseValueType) {
        var seed: UInt64 = 1
        for (rows, columns) in Self.shapes {
            for sparsity in Self.sparsities {
                seed += 1
                let dense = randomSparse(rows: rows, columns: columns, sparsity: sparsity, seed: seed, emptyRows: rows > 4)
                let sparse = SparseMatrix(dense, valueType: type)
                let x = randomVector(columns, seed: seed &* 31)
                let reference = sparse.multiply(x, kernel: .reference)
                let expanded = sparse.dense()
                let exact = (0..<rows).map { r in (0..<columns).reduce(0.0) { $0 + Double(expanded[r, $1]) * Double(x[$1]) } }
                let scale = (0..<rows).map { r in (0..<columns).reduce(0.0) { $0 + abs(Double(expanded[r, $1]) * Double(x[$1])) } }
                for r in 0..<rows {
                    #expect(abs(Double(reference[r]) - exact[r]) <= 1e-5 * scale[r] + 1e-7, "reference \(rows)×\(columns) p=\(sparsity) row \(r)")
                }
                for kernel in SparseKernel.available(for: type) where kernel != .reference {
                    for threads in [1, 3] {
                        let y = sparse.multiply(x, kernel: kernel, threads: ComputeThreads(threads))
                        for r in 0..<rows {
                            #expect(abs(Double(y[r]) - exact[r]) <= 1e-5 * scale[r] + 1e-7,
                                    "\(kernel) \(type) \(rows)×\(columns) p=\(sparsity) threads \(threads) row \(r): \(y[r]) vs \(exact[r])")
                        }
                    }
                }
            }
        }
    }

    /// The stored form: mask bits where the weight is non-zero (LSB first), values row-major,
    /// offsets the exclusive prefix sums; decompression gives the weights rounded to the type.
    @Test(arguments: SparseValueType.allCases)
    func storedFormIsTheBitmaskLayout(_ type: SparseValueType) throws {
        let dense = randomSparse(rows: 5, columns: 19, sparsity: 0.6, seed: 7, emptyRows: true)
        let sparse = SparseMatrix(dense, valueType: type)
        #expect(sparse.maskStride == 3 && sparse.mask.count == 15)
        var count = 0
        for r in 0..<5 {
            #expect(sparse.rowOffsets[r] == Int64(count))
            for c in 0..<19 {
                #expect(sparse.isStored(row: r, column: c) == (dense[r, c] != 0))
                #expect((sparse.mask[r * 3 + c / 8] >> UInt8(c % 8)) & 1 == (dense[r, c] != 0 ? 1 : 0))
                if dense[r, c] != 0 { count += 1 }
            }
        }
        #expect(sparse.nonZeroCount == count)
        #expect(sparse.dense().storage == dense.storage.map(type.rounded))
        #expect(sparse.packedValues.count == count * type.size)
        // Read back from its parts: the same matrix.
        let again = try SparseMatrix(rows: 5, columns: 19, valueType: type, mask: sparse.mask, rowOffsets: sparse.rowOffsets,
                                     values: Array(sparse.packedValues), name: "w")
        #expect(again == sparse)
        // -0 is zero; an all-dense matrix stores every weight.
        var signed = Matrix(rows: 1, columns: 4, storage: [-0.0, 1, 0, 2])
        #expect(SparseMatrix(signed, valueType: type).nonZeroCount == 2)
        signed.storage = [1, 2, 3, 4]
        #expect(SparseMatrix(signed, valueType: type).sparsity == 0)
    }

    @Test func partsThatDisagreeAreTypedErrors() throws {
        let sparse = SparseMatrix(randomSparse(rows: 4, columns: 12, sparsity: 0.5, seed: 3), valueType: .f32)
        let values = Array(sparse.packedValues)
        func error(mask: [UInt8]? = nil, offsets: [Int64]? = nil, values v: [UInt8]? = nil) -> SparseFormatError? {
            do {
                _ = try SparseMatrix(rows: 4, columns: 12, valueType: .f32, mask: mask ?? sparse.mask,
                                     rowOffsets: offsets ?? sparse.rowOffsets, values: v ?? values, name: "blk.0.ffn_up")
                return nil
            } catch let e as SparseFormatError { return e } catch { return nil }
        }
        guard case .maskShape(let name, 8, 7)? = error(mask: Array(sparse.mask.dropLast())) else {
            Issue.record("short mask not reported")
            return
        }
        #expect(name == "blk.0.ffn_up")
        #expect({ if case .rowOffsets(_, 0, _)? = error(offsets: [1] + sparse.rowOffsets.dropFirst()) { return true }; return false }())
        #expect({ if case .rowOffsets? = error(offsets: Array(sparse.rowOffsets.dropLast())) { return true }; return false }())
        #expect({ if case .valueCount? = error(values: Array(values.dropLast(4))) { return true }; return false }())
        var past = sparse.mask
        past[1] |= 0x80   // column 15 of a 12-column row
        #expect({ if case .bitsPastEnd(_, 0)? = error(mask: past) { return true }; return false }())
        var flipped = sparse.mask
        flipped[2] ^= 1   // row 1 gains or loses a bit: later offsets disagree
        #expect(error(mask: flipped) != nil)
    }

    @Test func rowsAreSplitByNonZeros() {
        // The first half of the rows is dense, the second half empty: two parts split the dense half.
        var m = Matrix(rows: 8, columns: 10)
        for r in 0..<4 { for c in 0..<10 { m[r, c] = 1 } }
        let sparse = SparseMatrix(m)
        #expect(sparse.rowPartition(2) == [0, 2, 8])
        #expect(sparse.rowPartition(1) == [0, 8])
        let parts = sparse.rowPartition(5)
        #expect(parts.first == 0 && parts.last == 8 && parts == parts.sorted())
    }

    /// Prefill: the tile-expanding product equals a dense GEMM of the decompressed weights.
    @Test(arguments: SparseValueType.allCases)
    func matrixProductMatchesDenseGEMM(_ type: SparseValueType) {
        let dense = randomSparse(rows: 300, columns: 70, sparsity: 0.7, seed: 11)
        let sparse = SparseMatrix(dense, valueType: type)
        var x = Matrix(rows: 5, columns: 70)
        x.storage = randomVector(350, seed: 12)
        let theirs = GEMM.linear(x, weight: sparse.dense())
        for kernel in SparseKernel.available(for: type) {
            let ours = sparse.multiply(matrix: x, kernel: kernel)
            for (a, b) in zip(ours.storage, theirs.storage) { #expect(abs(a - b) <= 1e-5 * max(1, abs(b)), "\(kernel)") }
        }
        let half = type == .f32 ? nil : HalfMatrix(dense, valueType: type)
        if let half {
            var y = [Float](repeating: 0, count: 5 * 300)
            x.storage.withUnsafeBufferPointer { xb in
                y.withUnsafeMutableBufferPointer { half.multiply(tokens: xb.baseAddress!, count: 5, into: $0.baseAddress!) }
            }
            for (a, b) in zip(y, theirs.storage) { #expect(abs(a - b) <= 1e-5 * max(1, abs(b)), "dense \(type)") }
        }
    }

    /// The expand kernels (prefill tiles) write exactly the reference twin's rows, for every
    /// shape, sparsity and row range, and the 16-bit widening equals the scalar conversion.
    @Test(arguments: SparseValueType.allCases)
    func expandKernelsMatchTheReferenceTwin(_ type: SparseValueType) {
        var seed: UInt64 = 500
        for (rows, columns) in Self.shapes {
            for sparsity in Self.sparsities {
                seed += 1
                let dense = randomSparse(rows: rows, columns: columns, sparsity: sparsity, seed: seed, emptyRows: rows > 4)
                let sparse = SparseMatrix(dense, valueType: type)
                let range = (rows > 2 ? 1 : 0)..<rows
                var reference = [Float](repeating: .nan, count: range.count * columns)
                reference.withUnsafeMutableBufferPointer { sparse.referenceExpand(rows: range, into: $0.baseAddress!) }
                #expect(reference == Array(sparse.dense().storage[(range.lowerBound * columns)...]))
                for kernel in SparseKernel.available(for: type) where kernel != .reference {
                    var out = [Float](repeating: .nan, count: range.count * columns)
                    out.withUnsafeMutableBufferPointer { sparse.expand(rows: range, into: $0.baseAddress!, kernel: kernel) }
                    #expect(out == reference, "\(kernel) \(type) \(rows)×\(columns) at \(sparsity)")
                }
                if type != .f32, SparseKernel.avx2.supports(type) {
                    let half = HalfMatrix(dense, valueType: type)
                    var widened = [Float](repeating: .nan, count: rows * columns)
                    var scalar = widened
                    widened.withUnsafeMutableBufferPointer { half.expand(rows: 0..<rows, into: $0.baseAddress!, kernel: .avx2) }
                    scalar.withUnsafeMutableBufferPointer { half.expand(rows: 0..<rows, into: $0.baseAddress!, kernel: .reference) }
                    #expect(widened == scalar)
                }
            }
        }
    }

    @Test(arguments: [SparseValueType.f16, .bf16])
    func denseHalfKernelsMatchTheReference(_ type: SparseValueType) {
        for (rows, columns) in Self.shapes {
            let dense = randomSparse(rows: rows, columns: columns, sparsity: 0.3, seed: UInt64(rows * 1000 + columns))
            let half = HalfMatrix(dense, valueType: type)
            let x = randomVector(columns, seed: 5)
            var reference = [Float](repeating: 0, count: rows)
            x.withUnsafeBufferPointer { xb in
                reference.withUnsafeMutableBufferPointer { half.multiply(xb.baseAddress!, into: $0.baseAddress!, kernel: .reference) }
            }
            for kernel in [SparseKernel.avx2, .avx512] where kernel.supports(.f32) {
                var y = [Float](repeating: 0, count: rows)
                x.withUnsafeBufferPointer { xb in
                    y.withUnsafeMutableBufferPointer { half.multiply(xb.baseAddress!, into: $0.baseAddress!, kernel: kernel, threads: ComputeThreads(2)) }
                }
                for r in 0..<rows { #expect(abs(y[r] - reference[r]) <= 1e-4 * max(1, abs(reference[r])), "\(kernel) \(rows)×\(columns)") }
            }
        }
    }

    /// Products large enough to be split over threads (split by non-zeros) give the bits of the
    /// one-thread product: every row is computed by the same kernel either way.
    @Test(arguments: SparseValueType.allCases)
    func largeProductsSplitOverThreadsGiveTheSameBits(_ type: SparseValueType) {
        let (rows, columns) = (1100, 2000)
        #expect(rows * columns >= SparseMatrix.minimumWeightsPerThread * 2)
        let sparse = SparseMatrix(randomSparse(rows: rows, columns: columns, sparsity: 0.7, seed: 21, emptyRows: true), valueType: type)
        let x = randomVector(columns, seed: 22)
        let reference = sparse.multiply(x, kernel: .reference)
        for kernel in SparseKernel.available(for: type) where kernel != .reference {
            let one = sparse.multiply(x, kernel: kernel, threads: .single)
            let two = sparse.multiply(x, kernel: kernel, threads: ComputeThreads(2))
            #expect(one == two, "\(kernel) \(type)")
            for r in 0..<rows { #expect(abs(one[r] - reference[r]) <= 1e-4 * max(1, abs(reference[r]))) }
        }
    }
}

@Suite struct DenseKernelAndPoolTests {
    /// The dense f32 vector kernels equal the plain loop on odd shapes, on one thread and split.
    @Test func denseFloatKernelsMatchTheReference() {
        for (rows, columns) in SparseMatrixTests.shapes + [(300, 700)] {
            let w = randomSparse(rows: rows, columns: columns, sparsity: 0, seed: UInt64(rows * 31 + columns))
            let x = randomVector(columns, seed: 9)
            func run(_ kernel: SparseKernel, _ threads: Int) -> [Float] {
                var y = [Float](repeating: .nan, count: rows)
                w.storage.withUnsafeBufferPointer { wb in
                    x.withUnsafeBufferPointer { xb in
                        y.withUnsafeMutableBufferPointer {
                            DenseGEMV.multiply(wb.baseAddress!, rows: rows, columns: columns, x: xb.baseAddress!,
                                               into: $0.baseAddress!, kernel: kernel, threads: ComputeThreads(threads))
                        }
                    }
                }
                return y
            }
            let reference = run(.reference, 1)
            for kernel in SparseKernel.available(for: .f32) where kernel != .reference {
                for threads in [1, 2] {
                    let y = run(kernel, threads)
                    for r in 0..<rows {
                        #expect(abs(y[r] - reference[r]) <= 1e-5 * max(1, abs(reference[r])), "\(kernel) \(rows)×\(columns)")
                    }
                }
            }
        }
    }

    /// Every chunk of every step runs exactly once, whichever thread claims it, over many short
    /// steps in a row (the decoder's pattern).
    @Test func workerPoolRunsEveryChunkOnce() {
        let pool = WorkerPool.shared(ComputeThreads(2))!
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        defer { counts.deallocate() }
        for step in 0..<2000 {
            let chunks = 1 + step % 13
            counts.initialize(repeating: 0, count: chunks)
            pool.run(chunks: chunks) { counts[$0] += 1 }
            #expect((0..<chunks).allSatisfy { counts[$0] == 1 }, "step \(step)")
        }
        #expect(WorkerPool.shared(.single) == nil)
    }
}
