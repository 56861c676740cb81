import Kernels
import TensorCore

/// SparseGPT (Frantar & Alistarh, 2023): OBS mask selection with weight reconstruction, the
/// procedure of the reference `SparseGPT.fasterprune` (DLP-METHOD §5).
///
/// Letters: `W` `[rows, C]` the weight, `H` `[C, C]` the Hessian `(2/N)·Σ x xᵀ`, `U` the upper
/// Cholesky factor of `H⁻¹` (`Uᵀ·U = H⁻¹`), `d_j = U_jj`, `B` the block width.
///
/// 1. Dead inputs (`H_jj = 0`): `H_jj = 1`, column `j` of `W` zeroed.
/// 2. Damping `λ = dampingFraction · mean(diag H)` added to the diagonal;
///    `U = chol(chol_inverse(chol(H)), upper)`. If a factorization fails the fraction is raised
///    ×10, at most `maximumDampingRaises` times, and every raise is reported in
///    ``SparseGPTDiagnostics`` (never silent); after that it throws.
/// 3. Columns in blocks of `B` (128). Unstructured: at the start of a block, the mask is the
///    `⌊rows·B_b·R⌋` smallest `w² / d_j²` over the **whole block flattened across rows** (the
///    reference sorts `tmp.flatten()`, so per-row sparsity adapts), on the weights as updated
///    by earlier blocks. N:M: at each group's first column, per row, the `N` smallest
///    `w² / d_j²` of the group's `M` columns on the weights updated so far (reference
///    `topk(largest=False)` at `i % prunem == 0`).
/// 4. Column by column: `q = 0` if masked else `w`; `e = (w − q)/d_j`; the remaining columns of
///    the block get `W[:, j+1..] −= e · U[j, j+1..]`.
/// 5. After the block, `W[:, later] −= E · U[block, later]` (one GEMM, the lazy batch update).
///
/// Deliberate deviations: the reference keeps `tmp <= sorted[k]`, which prunes `k + 1` entries
/// (more on ties); here exactly `k = ⌊rows·B_b·R⌋`, ties by lower flattened index. Rows are
/// processed independently inside a block (they are independent in the algorithm), in parallel.
/// For N:M the block width is rounded down to a multiple of `M` so groups never straddle blocks.
///
/// **Joint quantization** (`quantization` set, `SparseGPTPruner+Quantization.swift`): step 4
/// quantizes every kept weight on the ``JointQuantization`` grid, `q = grid(w)`, and propagates
/// `e = (w − q)/d_j` like a pruned weight's, as GPTQ does; the block width is a multiple of 32 (and
/// of `M`) so a group of 32 never straddles blocks. The scale of a group is fixed when the loop
/// reaches its first column, from the group's kept weights as updated so far (GPTQ
/// `groupsize = 32`, `static_groups = False`; the GPTQ reference reads them from `W`, which lacks
/// the current block's in-block updates for groups after the block's first; here they are
/// included). Deviation, only when quantizing: for N:M the masks of every `M`-group that starts
/// inside a 32-column group are chosen at the 32-column group's first column, so the anchor is
/// chosen among weights known to be kept. ``quantize(_:hessian:keeping:as:name:threads:)`` runs
/// the same loop with a fixed mask (GPTQ on the kept weights of Wanda or magnitude).
public struct SparseGPTPruner: Sendable {
    /// Column block width `B` (reference 128).
    public var blockSize: Int
    /// Initial damping fraction (reference `percdamp = 0.01`).
    public var dampingFraction: Double
    /// How many ×10 raises of the damping are tried after a failed factorization.
    public var maximumDampingRaises: Int

    public init(blockSize: Int = 128, dampingFraction: Double = 0.01, maximumDampingRaises: Int = 4) {
        precondition(blockSize > 0 && dampingFraction >= 0 && maximumDampingRaises >= 0, "invalid SparseGPT settings")
        self.blockSize = blockSize
        self.dampingFraction = dampingFraction
        self.maximumDampingRaises = maximumDampingRaises
    }

    /// The Hessian of a weight with `columns` inputs is `[columns, columns]`.
    static func validate(hessian: borrowing Matrix, columns: Int, name: String) throws {
        guard hessian.rows == columns, hessian.columns == columns else {
            throw PruningError.statisticsShape(name: name, expected: "[\(columns), \(columns)] Hessian",
                                               actual: "[\(hessian.rows), \(hessian.columns)]")
        }
    }

    /// Prunes `weight` (`[rows, C]`) to `target` using `hessian` (`[C, C]`, symmetric; consumed:
    /// pass ownership, e.g. ``HessianObserver/takeHessian(for:)``, to avoid a copy). Zeroed
    /// weights are in the returned mask; the surviving weights are updated, and with
    /// `quantization` quantized on its grid (a kept weight may become 0 then; it is not in the mask).
    public func prune(_ weight: inout Matrix, hessian: consuming Matrix, target: SparsityTarget,
                      name: String, quantization: JointQuantization? = nil,
                      threads: ComputeThreads = .single) throws -> LinearPruningOutcome {
        let (rows, columns) = (weight.rows, weight.columns)
        try target.validate(columns: columns, name: name)
        try Self.validate(quantization, columns: columns, name: name)
        try Self.validate(hessian: hessian, columns: columns, name: name)
        var h = hessian
        var diagnostics = SparseGPTDiagnostics(dampingFraction: dampingFraction, dampingRaises: 0, failures: [],
                                               deadInputs: 0, estimatedLoss: 0)
        var unit = 1
        if case let .nm(_, m) = target { unit = m }
        if quantization != nil { unit = Self.leastCommonMultiple(unit, JointQuantization.groupSize) }
        let width = max(unit, blockSize / unit * unit)
        let requirement: SparsityRequirement
        switch target {
        case let .ratio(r): requirement = .perColumnBlock(width: width, ratio: r)
        case let .nm(zeros, m): requirement = .perGroup(zeros: zeros, group: m)
        }
        var mask = PruningMask(rows: rows, columns: columns)
        guard rows > 0, columns > 0 else {
            return LinearPruningOutcome(mask: mask, requirement: requirement, sparseGPT: diagnostics)
        }
        try prepare(&weight, &h, name: name, diagnostics: &diagnostics)
        diagnostics.estimatedLoss = try run(&weight, u: h, mask: &mask, width: width, source: .select(target),
                                            quantization: quantization, name: name, threads: threads)
        return LinearPruningOutcome(mask: mask, requirement: requirement, sparseGPT: diagnostics)
    }

    /// Steps 1–2: refuses non-finite weights or Hessian entries, zeroes dead inputs, and replaces
    /// `h` by the damped inverse factor `U`.
    func prepare(_ weight: inout Matrix, _ h: inout Matrix, name: String,
                 diagnostics: inout SparseGPTDiagnostics) throws {
        let (rows, columns) = (weight.rows, weight.columns)
        for r in 0..<rows {
            for c in 0..<columns where !weight.storage[r * columns + c].isFinite {
                throw PruningError.nonFiniteValue(name: name, row: r, column: c)
            }
        }
        for i in 0..<columns {
            for j in 0..<columns where !h.storage[i * columns + j].isFinite {
                throw PruningError.nonFiniteValue(name: name + " Hessian", row: i, column: j)
            }
        }
        // 1. Dead inputs.
        for j in 0..<columns where h.storage[j * columns + j] == 0 {
            h.storage[j * columns + j] = 1
            for r in 0..<rows { weight.storage[r * columns + j] = 0 }
            diagnostics.deadInputs += 1
        }
        // 2. Damped inverse factor, raising the damping on failure.
        try factorInverse(&h, name: name, diagnostics: &diagnostics)
    }

    /// Where the loop's mask comes from: chosen as it goes (SparseGPT) or given (GPTQ on the kept
    /// weights of a mask-only pruner; a masked weight stays 0 and spreads no error).
    enum MaskSource {
        case select(SparsityTarget)
        case fixed
    }

    /// Steps 3–5 over the whole matrix; returns the loss estimate. Throws when a group's
    /// quantization scale overflows fp16.
    func run(_ weight: inout Matrix, u h: Matrix, mask: inout PruningMask, width: Int, source: MaskSource,
             quantization: JointQuantization?, name: String, threads: ComputeThreads) throws -> Double {
        let (rows, columns) = (weight.rows, weight.columns)
        let overflow = FirstFailure()
        var loss = 0.0
        h.storage.withUnsafeBufferPointer { u in
            weight.storage.withUnsafeMutableBufferPointer { w in
                mask.words.withUnsafeMutableBufferPointer { m in
                    guard let up = u.baseAddress, let wp = w.baseAddress, let mp = m.baseAddress else { return }
                    loss = runBlocks(weight: wp, rows: rows, columns: columns, u: up, mask: mp,
                                     wordsPerRow: (columns + 63) / 64, width: width, source: source,
                                     quantization: quantization, overflow: overflow, threads: threads)
                }
            }
        }
        if let (r, c) = overflow.first {
            throw PruningError.quantizationScaleOverflow(name: name, row: r, column: c)
        }
        return loss
    }

    /// Replaces `h` by `U` (upper triangle) with `Uᵀ·U = (H + λI)⁻¹`, raising λ ×10 on failure.
    private func factorInverse(_ h: inout Matrix, name: String, diagnostics: inout SparseGPTDiagnostics) throws {
        let n = h.rows
        var diagonal = [Float](repeating: 0, count: n)
        for j in 0..<n { diagonal[j] = h.storage[j * n + j] }
        let meanDiagonal = diagonal.reduce(0.0) { $0 + Double($1) } / Double(n)
        var fraction = dampingFraction
        for attempt in 0...maximumDampingRaises {
            let damping = Float(fraction * meanDiagonal)
            let failure: Cholesky.Failure? = h.storage.withUnsafeMutableBufferPointer { p in
                guard let base = p.baseAddress else { return nil }
                if attempt > 0 { GEMM.mirrorUpperTriangle(base, size: n) }   // restore the lower triangle
                for j in 0..<n { base[j * n + j] = diagonal[j] + damping }
                return Cholesky.inverseUpperFactor(base, size: n)
            }
            guard let failure else {
                diagnostics.dampingFraction = fraction
                return
            }
            diagnostics.failures.append("\(failure) with damping \(fraction)")
            if attempt == maximumDampingRaises {
                throw PruningError.hessianNotPositiveDefinite(name: name, dampingFraction: fraction,
                                                               detail: "\(failure)")
            }
            fraction *= 10
            diagnostics.dampingRaises += 1
        }
    }

    /// Steps 3–5 on raw pointers; returns the loss estimate `½ Σ (w − q)²/d²`.
    private func runBlocks(weight w: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
                           u: UnsafePointer<Float>, mask: UnsafeMutablePointer<UInt64>, wordsPerRow: Int,
                           width: Int, source: MaskSource, quantization: JointQuantization?,
                           overflow: FirstFailure, threads: ComputeThreads) -> Double {
        let errors = UnsafeMutablePointer<Float>.allocate(capacity: rows * width)   // [rows, width]
        defer { errors.deallocate() }
        let rowLoss = UnsafeMutablePointer<Double>.allocate(capacity: rows)
        rowLoss.initialize(repeating: 0, count: rows)
        defer { rowLoss.deallocate() }
        let shared = (w: SharedPointer(base: w), u: SharedPointer(base: UnsafeMutablePointer(mutating: u)),
                      mask: SharedPointer(base: mask), errors: SharedPointer(base: errors),
                      loss: SharedPointer(base: rowLoss))
        let nm: (zeros: Int, group: Int)?
        if case let .select(.nm(zeros, m)) = source { nm = (zeros, m) } else { nm = nil }
        let fixedMask: Bool
        if case .fixed = source { fixedMask = true } else { fixedMask = false }
        let group = JointQuantization.groupSize
        for i1 in stride(from: 0, to: columns, by: width) {
            let i2 = min(i1 + width, columns)
            let count = i2 - i1
            if case let .select(.ratio(r)) = source {
                selectBlockMask(weight: w, rows: rows, columns: columns, u: u, from: i1, count: count,
                                k: SparsityRequirement.count(rows * count, r), mask: mask, wordsPerRow: wordsPerRow)
            }
            parallelFor(0..<rows, threads: threads) { range in
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: 2 * width)
                defer { scores.deallocate() }
                for r in range {
                    let row = shared.w.base + r * columns + i1
                    let e = shared.errors.base + r * count
                    func kept(_ i: Int) -> Bool {
                        !PruningMask.contains(shared.mask.base, wordsPerRow: wordsPerRow, row: r, column: i1 + i)
                    }
                    /// N:M: per row, the `N` smallest `w²/d²` of the `M` columns from block column `start`.
                    func selectGroup(at start: Int, zeros: Int, m: Int) {
                        for g in 0..<m {
                            let dg = shared.u.base[(i1 + start + g) * columns + i1 + start + g]
                            scores[g] = row[start + g] * row[start + g] / (dg * dg)
                        }
                        guard let t = Selection.lowest(zeros, of: scores, count: m, scratch: scores + m) else { return }
                        var ties = t.tiesChosen
                        for g in 0..<m where scores[g] < t.value || (scores[g] == t.value && ties > 0) {
                            if scores[g] == t.value { ties -= 1 }
                            PruningMask.insert(shared.mask.base, wordsPerRow: wordsPerRow, row: r, column: i1 + start + g)
                        }
                    }
                    var loss = 0.0
                    var nextGroup = 0                                  // first N:M group not chosen yet
                    var grid: QuantizationGrid?, anchor = -1           // the current 32-column group's
                    for i in 0..<count {
                        let j = i1 + i
                        let d = shared.u.base[j * columns + j]
                        let groupStart = quantization != nil && i % group == 0
                        if let nm {
                            let horizon = quantization == nil ? i + 1 : groupStart ? min(i + group, count) : 0
                            while nextGroup < horizon {
                                selectGroup(at: nextGroup, zeros: nm.zeros, m: nm.group)
                                nextGroup += nm.group
                            }
                        }
                        if let quantization, groupStart {
                            var largest: Float = 0
                            anchor = -1
                            for c in i..<min(i + group, count) where abs(row[c]) > largest && kept(c) {
                                largest = abs(row[c])
                                anchor = c
                            }
                            grid = quantization.grid(anchor: anchor < 0 ? 0 : row[anchor])
                            if grid == nil {
                                overflow.record(row: r, column: j + anchor - i)
                                grid = QuantizationGrid(scale: 0, lowest: 0, highest: 0, anchorLevel: 0)
                            }
                        }
                        let value = row[i]
                        let pruned = !kept(i)
                        let q: Float
                        if pruned {
                            q = 0
                        } else if let grid {
                            q = i == anchor ? grid.anchorValue : grid.nearest(value)
                        } else {
                            q = value
                        }
                        // A fixed mask's weight was 0 before the loop: the updates it received are dropped.
                        let err = pruned && fixedMask ? 0 : (value - q) / d
                        e[i] = err
                        row[i] = q
                        if err != 0 {
                            loss += Double(err) * Double(err)
                            let uRow = shared.u.base + j * columns + i1
                            for c in (i + 1)..<max(i + 1, count) { row[c] -= err * uRow[c] }
                        }
                    }
                    shared.loss.base[r] += loss / 2
                }
            }
            if i2 < columns {
                // W[:, i2:] −= E[rows, count] · U[i1:i2, i2:]
                // On our threads in tiles cut by shape: OpenBLAS's own threading of this product
                // changed bits with its thread count on a Zen 3 (its ZEN kernels, 1536 columns).
                GEMM.multiply(transposeA: false, transposeB: false, m: rows, n: columns - i2, k: count,
                              alpha: -1, a: errors, lda: count, b: u + i1 * columns + i2, ldb: columns,
                              beta: 1, c: w + i2, ldc: columns, threads: threads)
            }
        }
        var total = 0.0
        for r in 0..<rows { total += rowLoss[r] }
        return total
    }

    /// Unstructured mask of one block: the `k` smallest `w²/d_j²` over `[rows, count]` flattened
    /// row-major, ties by lower flattened index.
    private func selectBlockMask(weight w: UnsafePointer<Float>, rows: Int, columns: Int, u: UnsafePointer<Float>,
                                 from i1: Int, count: Int, k: Int,
                                 mask: UnsafeMutablePointer<UInt64>, wordsPerRow: Int) {
        guard k > 0 else { return }
        let n = rows * count
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: 2 * n)   // [rows, count] + scratch
        defer { scores.deallocate() }
        var squaredDiagonal = [Float](repeating: 0, count: count)
        for i in 0..<count {
            let d = u[(i1 + i) * columns + i1 + i]
            squaredDiagonal[i] = d * d
        }
        for r in 0..<rows {
            let row = w + r * columns + i1
            for i in 0..<count { scores[r * count + i] = row[i] * row[i] / squaredDiagonal[i] }
        }
        guard let t = Selection.lowest(k, of: scores, count: n, scratch: scores + n) else { return }
        var ties = t.tiesChosen
        for f in 0..<n {
            let s = scores[f]
            if s < t.value || (s == t.value && ties > 0) {
                if s == t.value { ties -= 1 }
                PruningMask.insert(mask, wordsPerRow: wordsPerRow, row: f / count, column: i1 + f % count)
            }
        }
    }
}
