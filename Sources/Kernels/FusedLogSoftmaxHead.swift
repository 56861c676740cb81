import COpenBLAS
import CSparse
import Foundation

/// The LM head and the log-softmax of its targets in one pass over vocabulary tiles: for rows `x`
/// (`[rows, in]`, already normed) and the head `W` (`[V, in]`), `−log softmax(x·Wᵀ)[target]` per
/// row, without ever holding a row's `V` logits.
///
/// The vocabulary is cut into tiles of ``tileWidth`` columns. For each tile, one product
/// `[rows, tileWidth]` (single-threaded sgemm, or the bf16 kernel on the tile's panels) lands in a
/// buffer that stays in L2, and each row keeps the tile's maximum `m_t` and `s_t = Σ e^(x − m_t)`
/// (f32 lanes added in Double), and its target's logit when the target lies in the tile. Then per
/// row, in tile order: `M = max m_t`, `S = Σ s_t·e^(m_t − M)` in Double, `nll = M + log S − x_target`.
///
/// Tiles are spread over `threads`; every tile's arithmetic is the same call whichever thread runs
/// it and the merge runs in tile order, so the result does not depend on the thread count (nor on
/// OpenBLAS's: the sgemm calls run single-threaded). The twin is
/// ``SoftmaxKernel/logSumExp(_:count:)`` over whole logits rows.
public enum FusedLogSoftmaxHead {
    /// Vocabulary columns per tile (a multiple of the bf16 kernel's 32-column panels).
    public static let tileWidth = 1024

    /// The head's weight in the precision its product runs in (only read, by several threads).
    public enum Weight: @unchecked Sendable {
        /// f32, `[V, in]` row-major.
        case f32(UnsafePointer<Float>)
        /// Packed for the bf16 kernel (``ComputePrecision/bf16``).
        case bf16(PackedBF16Weight)
    }

    /// `−log softmax(x·Wᵀ)[targets[r]]` into `output[r]` for each row `r` with `targets[r] >= 0`
    /// (`output[r]` untouched otherwise). `x` `[rows, inputSize]`; `vocabulary` rows of `weight`.
    public static func negativeLogLikelihoods(_ x: UnsafePointer<Float>, rows: Int, inputSize: Int,
                                              weight: Weight, vocabulary: Int, targets: UnsafePointer<Int32>,
                                              output: UnsafeMutablePointer<Double>, threads: ComputeThreads) {
        guard rows > 0, vocabulary > 0 else { return }
        if case let .bf16(packed) = weight {
            precondition(packed.outputSize == vocabulary && packed.inputSize == inputSize, "bf16 head shape")
        }
        let tiles = (vocabulary + tileWidth - 1) / tileWidth
        let maxima = UnsafeMutablePointer<Float>.allocate(capacity: rows * tiles)      // [rows, tiles]
        let sums = UnsafeMutablePointer<Double>.allocate(capacity: rows * tiles)       // [rows, tiles]
        let targetLogits = UnsafeMutablePointer<Float>.allocate(capacity: rows)
        defer { maxima.deallocate(); sums.deallocate(); targetLogits.deallocate() }
        // bf16: the rows are rounded once, shared by every tile.
        var roundedRows: UnsafeMutablePointer<UInt16>?
        let pairs = Int(csparse_bf16_pairs(Int64(inputSize)))
        if case .bf16 = weight {
            let rounded = UnsafeMutablePointer<UInt16>.allocate(capacity: rows * 2 * pairs)
            csparse_bf16_convert_rows(x, Int64(rows), Int64(inputSize), Int64(inputSize), rounded)
            roundedRows = rounded
        }
        defer { roundedRows?.deallocate() }
        let addresses = (x: UInt(bitPattern: x), targets: UInt(bitPattern: targets), maxima: UInt(bitPattern: maxima),
                         sums: UInt(bitPattern: sums), logits: UInt(bitPattern: targetLogits),
                         rounded: UInt(bitPattern: roundedRows))
        let work: @Sendable (Range<Int>) -> Void = { range in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: rows * tileWidth)
            defer { buffer.deallocate() }
            let targets = UnsafePointer<Int32>(bitPattern: addresses.targets)!
            let maxima = UnsafeMutablePointer<Float>(bitPattern: addresses.maxima)!
            let sums = UnsafeMutablePointer<Double>(bitPattern: addresses.sums)!
            let targetLogits = UnsafeMutablePointer<Float>(bitPattern: addresses.logits)!
            for tile in range {
                let c0 = tile * tileWidth, width = min(tileWidth, vocabulary - c0)
                switch weight {
                case let .f32(w):
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(width), Int32(inputSize),
                                1, UnsafePointer<Float>(bitPattern: addresses.x)!, Int32(inputSize),
                                w + c0 * inputSize, Int32(inputSize), 0, buffer, Int32(width))
                case let .bf16(packed):
                    // The tile's panels of 32 columns are contiguous in the packed weight.
                    let panel = packed.storage + c0 * 2 * pairs
                    csparse_gemm_bf16_avx512(UnsafePointer<UInt16>(bitPattern: addresses.rounded)!, Int64(inputSize),
                                             panel, Int64(width), buffer, Int64(width), 0, 0, Int64(rows))
                }
                for r in 0..<rows where targets[r] >= 0 {
                    let row = buffer + r * width
                    let (m, s) = SoftmaxKernel.maximumAndShiftedSum(row, count: width)
                    maxima[r * tiles + tile] = m
                    sums[r * tiles + tile] = s
                    let t = Int(targets[r]) - c0
                    if t >= 0 && t < width { targetLogits[r] = row[t] }
                }
            }
        }
        if case .f32 = weight {
            BLASRuntime.singleThreaded { parallelFor(0..<tiles, threads: threads, work) }
        } else {
            parallelFor(0..<tiles, threads: threads, work)
        }
        for r in 0..<rows where targets[r] >= 0 {
            precondition(Int(targets[r]) < vocabulary, "target \(targets[r]) outside the vocabulary of \(vocabulary)")
            var m = -Float.infinity
            for t in 0..<tiles { m = max(m, maxima[r * tiles + t]) }
            var s = 0.0
            for t in 0..<tiles where maxima[r * tiles + t] > -.infinity {
                s += sums[r * tiles + t] * Foundation.exp(Double(maxima[r * tiles + t]) - Double(m))
            }
            output[r] = Double(m) + Foundation.log(s) - Double(targetLogits[r])
        }
    }
}
