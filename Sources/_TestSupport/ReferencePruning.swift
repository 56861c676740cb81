import TensorCore

extension Reference {
    /// Indices of the `k` lowest `scores`, ties by lower index: the first `k` of a stable
    /// ascending sort (what `torch.sort(stable=True)[:k]` picks).
    public static func lowestIndices(_ scores: [Float], _ k: Int) -> Set<Int> {
        let order = scores.indices.sorted { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        return Set(order.prefix(k))
    }

    /// Row-major mask `[rows·columns]` choosing the `k` lowest of every `span` consecutive
    /// scores of each row (a whole row: Wanda; a group: N:M), by stable sort.
    public static func lowestPerSpan(_ scores: Matrix, span: Int, k: Int) -> [Bool] {
        var mask = [Bool](repeating: false, count: scores.count)
        for r in 0..<scores.rows {
            for start in stride(from: 0, to: scores.columns, by: span) {
                let slice = (start..<(start + span)).map { scores[r, $0] }
                for i in lowestIndices(slice, k) { mask[r * scores.columns + start + i] = true }
            }
        }
        return mask
    }

    /// SparseGPT's `fasterprune` transcribed in Double with plain loops (unstructured, exactly
    /// `⌊rows·B_b·R⌋` per block by stable sort of the flattened block): Cholesky, inverse and
    /// Cholesky of the inverse by textbook formulas, then the column loop with the full update
    /// of all later columns (no lazy batching). Returns the pruned weight `[rows, C]`.
    public static func sparseGPT(_ weight: Matrix, hessian: Matrix, ratio: Double, blockSize: Int,
                                 dampingFraction: Double) -> [Double] {
        let (rows, n) = (weight.rows, weight.columns)
        var w = weight.storage.map(Double.init)
        var h = hessian.storage.map(Double.init)
        for j in 0..<n where h[j * n + j] == 0 {
            h[j * n + j] = 1
            for r in 0..<rows { w[r * n + j] = 0 }
        }
        let damp = dampingFraction * (0..<n).reduce(0.0) { $0 + h[$1 * n + $1] } / Double(n)
        for j in 0..<n { h[j * n + j] += damp }
        let hinv = inverse(h, n)
        let u = upperCholesky(hinv, n)   // Uᵀ U = H⁻¹
        for i1 in stride(from: 0, to: n, by: blockSize) {
            let i2 = min(i1 + blockSize, n)
            let count = i2 - i1
            var scores = [Float]()
            for r in 0..<rows {
                for j in i1..<i2 { scores.append(Float(w[r * n + j] * w[r * n + j] / (u[j * n + j] * u[j * n + j]))) }
            }
            let pruned = lowestIndices(scores, Int(Double(rows * count) * ratio))
            for j in i1..<i2 {
                for r in 0..<rows {
                    let value = w[r * n + j]
                    let q = pruned.contains(r * count + j - i1) ? 0 : value
                    let err = (value - q) / u[j * n + j]
                    w[r * n + j] = q
                    for c in (j + 1)..<max(j + 1, n) { w[r * n + c] -= err * u[j * n + c] }
                }
            }
        }
        return w
    }

    /// Inverse of a symmetric positive-definite `[n, n]` matrix by Gauss–Jordan, in Double.
    static func inverse(_ a: [Double], _ n: Int) -> [Double] {
        var m = a
        var inv = [Double](repeating: 0, count: n * n)
        for i in 0..<n { inv[i * n + i] = 1 }
        for p in 0..<n {
            let pivot = m[p * n + p]
            for c in 0..<n {
                m[p * n + c] /= pivot
                inv[p * n + c] /= pivot
            }
            for r in 0..<n where r != p {
                let f = m[r * n + p]
                if f == 0 { continue }
                for c in 0..<n {
                    m[r * n + c] -= f * m[p * n + c]
                    inv[r * n + c] -= f * inv[p * n + c]
                }
            }
        }
        return inv
    }

    /// Upper Cholesky factor `U` (`Uᵀ U = A`) of a symmetric positive-definite matrix.
    static func upperCholesky(_ a: [Double], _ n: Int) -> [Double] {
        var u = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            var s = a[i * n + i]
            for k in 0..<i { s -= u[k * n + i] * u[k * n + i] }
            u[i * n + i] = s.squareRoot()
            for j in (i + 1)..<max(i + 1, n) {
                var t = a[i * n + j]
                for k in 0..<i { t -= u[k * n + i] * u[k * n + j] }
                u[i * n + j] = t / u[i * n + i]
            }
        }
        return u
    }
}
