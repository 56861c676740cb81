import Kernels

/// Causal grouped-query self-attention over already projected and rotated q, k, v.
///
/// For query head `h` (key/value head `g = h / (H/K)`), row `t`:
/// `context[t, h] = Σ_{s ≤ t} softmax_s(q[t,h]·k[s,g] / √d) · v[s,g]`.
/// Queries are processed in tiles of `C` rows; a tile starting at row `r` only multiplies
/// against keys `0..<r+C`, so the causal half of `QKᵀ` is (almost) never computed. Heads run in
/// parallel, each tile's two products through single-threaded BLAS.
enum Attention {
    /// - Parameters: q `[T, H·d]`, k and v `[T, K·d]`, context `[T, H·d]` (written).
    static func apply(query q: UnsafePointer<Float>, key k: UnsafePointer<Float>, value v: UnsafePointer<Float>,
                      context: UnsafeMutablePointer<Float>, tokens t: Int, configuration c: ModelConfiguration,
                      workspace: BlockWorkspace) {
        let d = c.headDimension, heads = c.headCount
        let qStride = heads * d, kvStride = c.keyValueHeadCount * d
        let group = heads / c.keyValueHeadCount
        let scale = 1 / Float(d).squareRoot()
        let tile = workspace.tileRows
        let capacity = workspace.capacity
        let threads = workspace.threads
        // Raw addresses cross into the parallel body; each worker writes its own heads' columns
        // of `context` and its own scores buffer.
        let (qa, ka, va, ca, sa) = (UInt(bitPattern: q), UInt(bitPattern: k), UInt(bitPattern: v),
                                    UInt(bitPattern: context), UInt(bitPattern: workspace.scores))
        let blasThreads = BLASRuntime.threadCount
        if threads.count > 1 { BLASRuntime.setThreadCount(1) }
        defer { if threads.count > 1 { BLASRuntime.setThreadCount(blasThreads) } }
        let workers = min(threads.count, heads)
        parallelFor(0..<workers, threads: threads) { workerRange in
            for worker in workerRange {
                let q = UnsafePointer<Float>(bitPattern: qa)!, k = UnsafePointer<Float>(bitPattern: ka)!
                let v = UnsafePointer<Float>(bitPattern: va)!, context = UnsafeMutablePointer<Float>(bitPattern: ca)!
                let scores = UnsafeMutablePointer<Float>(bitPattern: sa)! + worker * tile * capacity
                for h in stride(from: worker, to: heads, by: workers) {
                    let g = h / group
                    for r0 in stride(from: 0, to: t, by: tile) {
                        let rows = min(tile, t - r0), keys = r0 + rows
                        // scores[rows, keys] = q[r0..<r0+rows, h] · k[0..<keys, g]ᵀ / √d
                        GEMM.multiply(transposeA: false, transposeB: true, m: rows, n: keys, k: d, alpha: scale,
                                      a: q + r0 * qStride + h * d, lda: qStride, b: k + g * d, ldb: kvStride,
                                      beta: 0, c: scores, ldc: keys)
                        for i in 0..<rows {
                            let row = scores + i * keys, visible = r0 + i + 1
                            SoftmaxKernel.applyRow(row, count: visible)
                            if visible < keys { (row + visible).update(repeating: 0, count: keys - visible) }
                        }
                        // context[r0..<r0+rows, h] = scores · v[0..<keys, g]
                        GEMM.multiply(transposeA: false, transposeB: false, m: rows, n: d, k: keys,
                                      a: scores, lda: keys, b: v + g * d, ldb: kvStride,
                                      beta: 0, c: context + r0 * qStride + h * d, ldc: qStride)
                    }
                }
            }
        }
    }
}
