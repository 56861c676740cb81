import CSparse
import Kernels

extension SparseMatrix {
    /// Whether ``multiplySparse(tokens:count:inputStride:into:outputStride:bias:accumulate:threads:)``
    /// runs on this CPU for this matrix: f32 values and AVX2 + FMA.
    public var runsSparseGEMM: Bool { valueType == .f32 && SparseKernel.avx2.supports(.f32) }

    /// `y = x · Wᵀ (+ bias)`, or with `accumulate` `y += x · Wᵀ (+ bias)`, for `x` `[count, columns]`
    /// (row stride `inputStride`, default `columns`) and `y` `[count, rows]` (row stride
    /// `outputStride`, default `rows`), with work in proportion to the non-zeros: tiles of 64
    /// tokens are transposed and multiplied by the sparse rows directly (``csparse_gemm_tile_avx2``),
    /// without expanding the matrix. Tiles go to different threads; a product of fewer tiles than
    /// threads splits the rows instead. Every output is the sum over its row's non-zeros in
    /// column order, whatever the thread count. Requires ``runsSparseGEMM``.
    public func multiplySparse(tokens x: UnsafePointer<Float>, count: Int, inputStride: Int? = nil,
                               into y: UnsafeMutablePointer<Float>, outputStride: Int? = nil,
                               bias: UnsafePointer<Float>? = nil, accumulate: Bool = false,
                               threads: ComputeThreads = .single) {
        precondition(runsSparseGEMM, "the sparse GEMM runs f32 matrices on CPUs with AVX2 + FMA; this is \(valueType) on \(SparseKernel.cpuDescription)")
        let ldx = inputStride ?? columns, ldy = outputStride ?? rows, rows = rows, columns = columns
        precondition(ldx >= columns && ldy >= rows, "sparse GEMM: row strides \(ldx), \(ldy) below \(columns), \(rows)")
        guard count > 0, rows > 0 else { return }
        let width = Int(CSPARSE_TILE_TOKENS)
        let tiles = (count + width - 1) / width
        let workers = max(1, min(threads.count, max(tiles, rows / 64)))
        let byTiles = tiles >= workers
        // Per worker: an input tile [columns, 64] and an output tile [rows, 64] (one shared input
        // tile when the rows are split).
        let inputFloats = columns * width, outputFloats = rows * width
        let scratch = TiledProduct.Scratch.take(workers * (inputFloats + outputFloats))
        defer { TiledProduct.Scratch.give(scratch) }
        let cursors = UnsafeMutablePointer<Int64>.allocate(capacity: workers * rows)
        defer { cursors.deallocate() }
        let input = SharedInput(x), output = SharedOutput(y), base = SharedOutput(scratch.pointer)
        let biases = bias.map { SharedInput($0) }, cursor = SharedInt64(cursors)
        withKernelMatrix { m in
            let matrix = SharedInput(m)
            @Sendable func loadTile(_ tile: Int, into xt: UnsafeMutablePointer<Float>) {
                let t0 = tile * width
                csparse_tile_load(input.pointer + t0 * ldx, Int64(ldx), Int64(min(width, count - t0)), Int64(columns), xt)
            }
            @Sendable func storeTile(_ tile: Int, rows range: Range<Int>, from yt: UnsafePointer<Float>) {
                let t0 = tile * width
                csparse_tile_store(yt, Int64(range.lowerBound), Int64(range.upperBound), Int64(min(width, count - t0)),
                                   output.pointer + t0 * ldy, Int64(ldy), biases?.pointer, accumulate ? 1 : 0)
            }
            if byTiles {
                parallelFor(0..<workers, threads: threads) { workerRange in
                    for w in workerRange {
                        let xt = base.pointer + w * (inputFloats + outputFloats), yt = xt + inputFloats
                        for tile in (w * tiles / workers)..<((w + 1) * tiles / workers) {
                            loadTile(tile, into: xt)
                            csparse_gemm_tile_avx2(matrix.pointer, xt, yt, 0, Int64(rows), cursor.pointer + w * rows)
                            storeTile(tile, rows: 0..<rows, from: yt)
                        }
                    }
                }
            } else {
                let bounds = rowPartition(workers)
                let xt = base.pointer, yt = SharedOutput(xt + inputFloats)
                for tile in 0..<tiles {
                    loadTile(tile, into: xt)
                    parallelFor(0..<workers, threads: threads) { workerRange in
                        for w in workerRange where bounds[w + 1] > bounds[w] {
                            let (r0, r1) = (bounds[w], bounds[w + 1])
                            let out = yt.pointer + r0 * width
                            csparse_gemm_tile_avx2(matrix.pointer, base.pointer, out, Int64(r0), Int64(r1), cursor.pointer + r0)
                            storeTile(tile, rows: r0..<r1, from: out)
                        }
                    }
                }
            }
        }
    }

    /// The reference twin of ``multiplySparse(tokens:count:inputStride:into:outputStride:bias:accumulate:threads:)``:
    /// ``referenceMultiply(_:into:)`` token by token: the same sums in the same order, each
    /// product rounded before it is added (the kernel fuses them), so the two agree to rounding.
    public func referenceMultiplySparse(tokens x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>,
                                        bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
        let row = UnsafeMutablePointer<Float>.allocate(capacity: max(rows, 1))
        defer { row.deallocate() }
        for t in 0..<count {
            referenceMultiply(x + t * columns, into: row)
            for r in 0..<rows {
                let v = row[r] + (bias?[r] ?? 0)
                y[t * rows + r] = accumulate ? y[t * rows + r] + v : v
            }
        }
    }
}

struct SharedInt64: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Int64>
    init(_ pointer: UnsafeMutablePointer<Int64>) { self.pointer = pointer }
}
