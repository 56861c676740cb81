import CSparse
import Kernels
import Sparse

/// Causal grouped-query self-attention over already projected and rotated q, k, v.
///
/// For query head `h` (key/value head `g = h / G`, `G = H/K` query heads per group), row `t`:
/// `context[t, h] = Σ_{s ≤ P+t} softmax_s(q[t,h]·k[s,g] / √d) · v[s,g]`, where the first `P` key
/// and value rows belong to tokens before the queries (a prefix computed earlier, `P = 0` for a
/// plain sequence): query row `t` sits at position `P + t`.
///
/// Work is cut into tiles of `C` query rows per key/value group. A tile stacks the `G` heads
/// of its group into one `[G·C, d]` block, so the two products (`QKᵀ` over keys `0..<P+r+C` only,
/// which skips the masked upper triangle, then `·V`) are single BLAS calls with `G·C` rows
/// rather than `G` calls with `C` rows. Tiles are dealt to threads largest first, each thread
/// running single-threaded BLAS on its own scratch.
///
/// Where the CPU has AVX2 and `d` is a multiple of 8, a tile runs as one fused kernel instead
/// (`csparse_attention_tile_avx2`: online softmax over key blocks of 64, scores kept in L1, no
/// BLAS); the BLAS path above is its reference twin (`fused: false`).
public enum Attention {
    /// Whether `apply` runs the fused kernel by default: the CPU has AVX2 + FMA.
    public static let fusedKernelAvailable = SparseKernel.avx2.supports(.f32)

    /// Whether the fused kernel handles `configuration` (head dimension a multiple of 8).
    public static func fusedKernelHandles(_ c: ModelConfiguration) -> Bool { c.headDimension % 8 == 0 }

    /// Scratch floats one worker needs: for the BLAS path packed queries and context `[G·C, d]`
    /// each and scores `[G·C, T]`; for the fused kernel its accumulators and key block.
    public static func scratchPerWorker(configuration c: ModelConfiguration, tileRows: Int, capacity: Int) -> Int {
        let perGroup = c.headCount / c.keyValueHeadCount, rows = perGroup * tileRows
        let fused = Int(csparse_attention_tile_scratch(Int64(perGroup), Int64(tileRows), Int64(c.headDimension)))
        let bf16 = Int(csparse_attention_tile_bf16_scratch(Int64(perGroup), Int64(tileRows), Int64(c.headDimension)))
        return max(rows * (2 * c.headDimension + capacity), fused, bf16)
    }

    /// - Parameters: q `[T, H·d]`, k and v `[P+T, K·d]` (prefix rows first), context `[T, H·d]`
    ///   (written); `P + T ≤` the workspace's capacity.
    public static func apply(query q: UnsafePointer<Float>, key k: UnsafePointer<Float>, value v: UnsafePointer<Float>,
                      context: UnsafeMutablePointer<Float>, tokens t: Int, prefix p: Int = 0,
                      configuration c: ModelConfiguration, workspace: BlockWorkspace, fused: Bool? = nil) {
        apply(query: q, key: k, value: v, context: context, tokens: t, prefix: p, configuration: c,
              scratch: workspace.scores, capacity: workspace.capacity, tileRows: workspace.tileRows, threads: workspace.threads,
              fused: fused ?? workspace.fusedAttention, precision: workspace.precision)
    }

    /// `fused` overrides the workspace's ``BlockWorkspace/fusedAttention``.
    ///
    /// The same with explicit scratch: `scratch` holds `threads.count ×`
    /// ``scratchPerWorker(configuration:tileRows:capacity:)`` floats, and `P + T ≤ capacity`.
    /// `fused` asks for the fused kernel where it applies (AVX2, `d` a multiple of 8); false runs
    /// the BLAS path.
    public static func apply(query q: UnsafePointer<Float>, key k: UnsafePointer<Float>, value v: UnsafePointer<Float>,
                             context: UnsafeMutablePointer<Float>, tokens t: Int, prefix p: Int = 0,
                             configuration c: ModelConfiguration, scratch: UnsafeMutablePointer<Float>, capacity: Int,
                             tileRows tile: Int, threads: ComputeThreads, fused: Bool = fusedKernelAvailable,
                             precision: ComputePrecision = .f32) {
        precondition(p >= 0 && p + t <= capacity, "attention: \(p) prefix + \(t) tokens, scratch holds \(capacity)")
        let d = c.headDimension, groups = c.keyValueHeadCount
        let qStride = c.headCount * d, kvStride = groups * d
        let perGroup = c.headCount / groups
        let scale = 1 / Float(d).squareRoot()
        let scratchSize = scratchPerWorker(configuration: c, tileRows: tile, capacity: capacity)
        let tiles = (t + tile - 1) / tile
        // Work items (group, tile), the most expensive (latest) tiles first, dealt round-robin.
        let items = (0..<tiles).reversed().flatMap { r in (0..<groups).map { (g: $0, r: r) } }
        let workers = min(threads.count, items.count)
        let (qa, ka, va, ca, sa) = (UInt(bitPattern: q), UInt(bitPattern: k), UInt(bitPattern: v),
                                    UInt(bitPattern: context), UInt(bitPattern: scratch))
        // Each worker writes only its own tiles' rows and columns of `context` and its own scratch,
        // running single-threaded BLAS when there are several workers (one keeps BLAS's threads).
        // bf16: both products in bf16 where the head dimension allows (a multiple of 16).
        let bf16 = fused && precision == .bf16 && precision.unsupportedReason == nil && d % 16 == 0
        if fused && (bf16 || (fusedKernelAvailable && fusedKernelHandles(c))) {
            // One kernel call per (group, tile); no BLAS, so no single-threaded section.
            parallelFor(0..<workers, threads: threads) { workerRange in
                let q = UnsafePointer<Float>(bitPattern: qa)!, k = UnsafePointer<Float>(bitPattern: ka)!
                let v = UnsafePointer<Float>(bitPattern: va)!, context = UnsafeMutablePointer<Float>(bitPattern: ca)!
                for worker in workerRange {
                    let scratch = UnsafeMutablePointer<Float>(bitPattern: sa)! + worker * scratchSize
                    for item in stride(from: worker, to: items.count, by: workers) {
                        let (g, r0) = (items[item].g, items[item].r * tile)
                        let rows = min(tile, t - r0), head = g * perGroup
                        let kernel = bf16 ? csparse_attention_tile_bf16 : csparse_attention_tile_avx2
                        kernel(q + r0 * qStride + head * d, Int64(qStride), Int64(perGroup), Int64(rows),
                               Int64(p + r0), k + g * d, v + g * d, Int64(kvStride), Int64(d), scale,
                               context + r0 * qStride + head * d, Int64(qStride), scratch)
                    }
                }
            }
            return
        }
        @Sendable func work(_ workerRange: Range<Int>) {
            let q = UnsafePointer<Float>(bitPattern: qa)!, k = UnsafePointer<Float>(bitPattern: ka)!
            let v = UnsafePointer<Float>(bitPattern: va)!, context = UnsafeMutablePointer<Float>(bitPattern: ca)!
            for worker in workerRange {
                let scratch = UnsafeMutablePointer<Float>(bitPattern: sa)! + worker * scratchSize
                let packed = scratch, packedContext = scratch + perGroup * tile * d
                let scores = packedContext + perGroup * tile * d
                for item in stride(from: worker, to: items.count, by: workers) {
                    let (g, r0) = (items[item].g, items[item].r * tile)
                    let rows = min(tile, t - r0), keys = p + r0 + rows, m = perGroup * rows
                    // packed[j·rows + i] = q[r0 + i, head g·G + j]
                    for j in 0..<perGroup {
                        let head = g * perGroup + j
                        for i in 0..<rows {
                            (packed + (j * rows + i) * d).update(from: q + (r0 + i) * qStride + head * d, count: d)
                        }
                    }
                    // scores[G·rows, keys] = packed · k[0..<keys, g]ᵀ / √d
                    GEMM.multiply(transposeA: false, transposeB: true, m: m, n: keys, k: d, alpha: scale,
                                  a: packed, lda: d, b: k + g * d, ldb: kvStride, beta: 0, c: scores, ldc: keys)
                    for j in 0..<perGroup {
                        for i in 0..<rows {
                            let row = scores + (j * rows + i) * keys, visible = p + r0 + i + 1
                            SoftmaxKernel.applyRow(row, count: visible)
                            if visible < keys { (row + visible).update(repeating: 0, count: keys - visible) }
                        }
                    }
                    // packedContext[G·rows, d] = scores · v[0..<keys, g]
                    GEMM.multiply(transposeA: false, transposeB: false, m: m, n: d, k: keys,
                                  a: scores, lda: keys, b: v + g * d, ldb: kvStride, beta: 0, c: packedContext, ldc: d)
                    for j in 0..<perGroup {
                        let head = g * perGroup + j
                        for i in 0..<rows {
                            (context + (r0 + i) * qStride + head * d).update(from: packedContext + (j * rows + i) * d, count: d)
                        }
                    }
                }
            }
        }
        if workers > 1 {
            BLASRuntime.singleThreaded { parallelFor(0..<workers, threads: threads, work) }
        } else {
            work(0..<workers)
        }
    }
}
