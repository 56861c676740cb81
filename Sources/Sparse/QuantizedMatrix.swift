import CSparse
import Kernels
import TensorCore
import TensorIO

/// The quantized grids a ``QuantizedMatrix`` stores values on: ggml's Q8_0 (value = d·q,
/// q ∈ −127…127) and Q4_0 (value = d·(q − 8), stored here as the signed 4-bit q − 8 ∈ −8…7),
/// one f16 scale `d` per 32 columns of a row. Both keep a zero weight exactly zero.
public enum QuantizedType: String, Sendable, Codable, CaseIterable {
    case q8_0
    case q4_0

    /// The kernels' type code.
    var code: Int32 { self == .q8_0 ? Int32(CSPARSE_Q8_0) : Int32(CSPARSE_Q4_0) }

    /// The GGUF type of the same blocks.
    public var dtype: DType { self == .q8_0 ? .q8_0 : .q4_0 }

    /// Bytes of one ggml block (32 weights): the f16 scale and the codes.
    public var blockBytes: Int { self == .q8_0 ? 34 : 18 }

    /// Columns per scale.
    public static let group = 32
}

/// A weight matrix `[rows, columns]` with values on a ``QuantizedType`` grid, sparse (the bitmask
/// layout of ``SparseMatrix``: only stored weights carry a value) or dense (every weight carries
/// one), with one f16 scale per 32 columns of each row — a ggml Q8_0 / Q4_0 tensor, with the zeros
/// left out when sparse. Built from ggml blocks, so a Q8_0 / Q4_0 GGUF tensor is held exactly; the
/// mask of a sparse one is the set of non-zero codes (a pruned weight is a zero code).
///
/// Per weight at 70% sparsity: mask 1/8 byte + 0.3 values (1 byte Q8_0, ½ byte Q4_0) + scales
/// 1/16 byte = 0.49 / 0.34 bytes, against 1.06 / 0.56 for the dense Q8_0 / Q4_0 blocks.
///
/// Products quantize the input vector per 32 columns (int8, like llama.cpp's Q8 activations), so
/// each group's products sum exactly in integers; see ``referenceMultiply(_:into:)``.
public struct QuantizedMatrix: Sendable, Equatable {
    public let rows: Int
    public let columns: Int
    public let type: QuantizedType
    /// Whether only non-zero weights carry a value (the mask says which).
    public let isSparse: Bool
    /// `[rows, ⌈columns/8⌉]`, empty when dense.
    public let mask: [UInt8]
    /// f16 bits, `[rows, columns/32]`.
    public let scales: [UInt16]
    /// Byte offset of each row's values.
    public let rowOffsets: [Int64]
    /// Weights carrying a value.
    public let storedCount: Int
    /// The codes (see `CSparse.h`: q + 128 in a byte for Q8_0; q + 8, ggml's nibble, two per
    /// byte for Q4_0, each 64 columns starting on a byte), followed by 64 zero bytes the kernels
    /// may read past the end.
    let valueBytes: [UInt8]

    public var groups: Int { columns / QuantizedType.group }

    /// The widest row the kernels take.
    public static let maximumColumns = Int(CSPARSE_Q_MAX_COLS)

    /// Whether rows of `columns` weights can be held: whole 32-column groups, at most ``maximumColumns``.
    public static func canHold(columns: Int) -> Bool {
        columns % QuantizedType.group == 0 && columns <= maximumColumns
    }

    public var maskStride: Int { (columns + 7) / 8 }

    /// `rows × columns` weights as ggml `type` blocks (row-major, `columns/32` blocks per row, each
    /// the f16 scale then the codes: Q8_0 32 int8; Q4_0 16 bytes, weight j in the low nibble of
    /// byte j and weight j + 16 in the high nibble, value = d·(nibble − 8)). `sparse`: keep only
    /// the non-zero codes.
    public init(blocks: UnsafeRawBufferPointer, rows: Int, columns: Int, type: QuantizedType, sparse: Bool) {
        precondition(rows >= 0 && columns >= 0 && Self.canHold(columns: columns),
                     "quantized matrix: \(columns) columns are not a whole number of 32-column groups up to \(Self.maximumColumns)")
        let groups = columns / QuantizedType.group
        precondition(blocks.count == rows * groups * type.blockBytes,
                     "quantized matrix: \(blocks.count) bytes for \(rows) × \(groups) \(type) blocks")
        self.rows = rows
        self.columns = columns
        self.type = type
        isSparse = sparse
        let stride = (columns + 7) / 8
        var mask = [UInt8](repeating: 0, count: sparse ? rows * stride : 0)
        var scales = [UInt16](repeating: 0, count: rows * groups)
        var offsets = [Int64](repeating: 0, count: rows)
        var values = [UInt8]()
        values.reserveCapacity(rows * columns / (type == .q8_0 ? 1 : 2) / (sparse ? 2 : 1) + SparseMatrix.padding)
        var stored = 0
        var codes = [Int8](repeating: 0, count: QuantizedType.group)
        for r in 0..<rows {
            offsets[r] = Int64(values.count)
            var packed = 0
            for g in 0..<groups {
                // Each 64 columns (a pair of groups) start on a byte.
                if g % 2 == 0 { packed = 0 }
                let block = blocks.baseAddress! + (r * groups + g) * type.blockBytes
                scales[r * groups + g] = UInt16(block.load(as: UInt8.self)) | UInt16(block.load(fromByteOffset: 1, as: UInt8.self)) << 8
                for j in 0..<QuantizedType.group {
                    switch type {
                    case .q8_0: codes[j] = block.load(fromByteOffset: 2 + j, as: Int8.self)
                    case .q4_0:
                        let byte = block.load(fromByteOffset: 2 + j % 16, as: UInt8.self)
                        codes[j] = Int8(j < 16 ? byte & 0x0F : byte >> 4) - 8
                    }
                }
                for j in 0..<QuantizedType.group where !sparse || codes[j] != 0 {
                    if sparse {
                        let c = g * QuantizedType.group + j
                        mask[r * stride + c / 8] |= 1 << UInt8(c % 8)
                    }
                    Self.append(codes[j], index: packed, type: type, to: &values)
                    packed += 1
                    stored += 1
                }
            }
        }
        values += [UInt8](repeating: 0, count: SparseMatrix.padding)
        self.mask = mask
        self.scales = scales
        rowOffsets = offsets
        storedCount = stored
        valueBytes = values
    }

    /// `dense` quantized to nearest on `type`'s grid (ggml's reference quantizer, see
    /// `TensorIO.quantize`), then held as ``init(blocks:rows:columns:type:sparse:)`` does.
    public init(_ dense: Matrix, type: QuantizedType, sparse: Bool) {
        let blocks = quantize(dense.storage, as: type.dtype)
        self = blocks.withUnsafeBytes { QuantizedMatrix(blocks: $0, rows: dense.rows, columns: dense.columns, type: type, sparse: sparse) }
    }

    /// Appends code number `index` of a pair of groups (a new byte for Q4_0's even indices).
    private static func append(_ code: Int8, index: Int, type: QuantizedType, to bytes: inout [UInt8]) {
        switch type {
        case .q8_0: bytes.append(UInt8(Int(code) + 128))
        case .q4_0:
            let nibble = UInt8(Int(code) + 8)
            if index % 2 == 0 { bytes.append(nibble) } else { bytes[bytes.count - 1] |= nibble << 4 }
        }
    }

    /// Fraction of weights without a value (0 when dense).
    public var sparsity: Double { rows * columns == 0 ? 0 : 1 - Double(storedCount) / Double(rows * columns) }

    /// Bytes one product reads: mask, values, scales and row offsets.
    public var storedBytes: Int { mask.count + codeBytes + scales.count * 2 + rows * 8 }

    /// Bytes of the codes, without the padding.
    var codeBytes: Int { valueBytes.count - SparseMatrix.padding }

    /// The signed value q of code number `index` of the pair of groups starting at byte `start`.
    @inline(__always)
    func code(at start: Int, _ index: Int) -> Int32 {
        switch type {
        case .q8_0: return Int32(valueBytes[start + index]) - 128
        case .q4_0:
            let byte = valueBytes[start + index / 2]
            return Int32(index % 2 == 0 ? byte & 0x0F : byte >> 4) - 8
        }
    }

    /// Calls `body(group, column in group, q)` for every stored weight of row `r`, in order.
    func forEachStored(row r: Int, _ body: (Int, Int, Int32) -> Void) {
        var start = Int(rowOffsets[r])
        var index = 0
        for g in 0..<groups {
            if g % 2 == 0, g > 0 {
                start += type == .q8_0 ? index : (index + 1) / 2
                index = 0
            }
            for j in 0..<QuantizedType.group {
                let c = g * QuantizedType.group + j
                if isSparse, mask[r * maskStride + c / 8] >> UInt8(c % 8) & 1 == 0 { continue }
                body(g, j, code(at: start, index))
                index += 1
            }
        }
    }

    /// Scale of group `g` of row `r`.
    public func scale(row r: Int, group g: Int) -> Float { HalfConversion.float(fromHalf: scales[r * groups + g]) }

    /// The dense matrix (scale · code; zeros where no value is stored).
    public func dense() -> Matrix {
        var out = Matrix(rows: rows, columns: columns)
        out.storage.withUnsafeMutableBufferPointer { referenceExpand(rows: 0..<rows, into: $0.baseAddress!) }
        return out
    }

    /// Rows `range` dense as `Float` into `buffer` (`[range.count, columns]`): the tile a prefill
    /// GEMM multiplies. The AVX2 loop where the CPU has it, else ``referenceExpand(rows:into:)``.
    public func expand(rows range: Range<Int>, into buffer: UnsafeMutablePointer<Float>, kernel: QuantizedKernel? = nil) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "expand: rows \(range) of \(rows)")
        guard (kernel ?? QuantizedKernel.best) != .reference, !range.isEmpty else {
            referenceExpand(rows: range, into: buffer)
            return
        }
        withKernelMatrix { csparse_qexpand_avx2($0, buffer, Int64(range.lowerBound), Int64(range.upperBound)) }
    }

    /// The plain Swift twin of the expand loop.
    public func referenceExpand(rows range: Range<Int>, into buffer: UnsafeMutablePointer<Float>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "expand: rows \(range) of \(rows)")
        buffer.update(repeating: 0, count: range.count * columns)
        expand(rows: range) { i, value in buffer[i - range.lowerBound * columns] = value }
    }

    private func expand(rows range: Range<Int>, _ set: (Int, Float) -> Void) {
        for r in range {
            forEachStored(row: r) { g, j, code in
                set(r * columns + g * QuantizedType.group + j, scale(row: r, group: g) * Float(code))
            }
        }
    }

    public static func == (a: QuantizedMatrix, b: QuantizedMatrix) -> Bool {
        a.rows == b.rows && a.columns == b.columns && a.type == b.type && a.isSparse == b.isSparse && a.mask == b.mask
            && a.scales == b.scales && a.rowOffsets == b.rowOffsets && a.valueBytes == b.valueBytes
    }
}

/// A vector quantized per 32 columns as the products need it: `codes[c] = round(x[c] / d[g])`
/// with `d[g] = max|x| / 127` over group `g` (llama.cpp's Q8 activations, round half away from
/// zero), zero-padded to whole groups.
public struct QuantizedVector {
    public var codes: [Int8]
    public var scales: [Float]

    public init(columns: Int) {
        let groups = (columns + QuantizedType.group - 1) / QuantizedType.group
        codes = [Int8](repeating: 0, count: groups * QuantizedType.group)
        scales = [Float](repeating: 0, count: groups)
    }

    /// Quantizes `x` (`columns` values) in place: with the AVX2 loop where the CPU has it and the
    /// columns are whole groups, else with ``referenceSet(_:columns:)``; both give the same codes.
    public mutating func set(_ x: UnsafePointer<Float>, columns: Int) {
        precondition(codes.count >= columns, "quantized vector: \(columns) values for \(codes.count)")
        guard columns == codes.count, SparseKernel.features & Int(CSPARSE_AVX2) != 0 else {
            referenceSet(x, columns: columns)
            return
        }
        codes.withUnsafeMutableBufferPointer { q in
            scales.withUnsafeMutableBufferPointer { s in
                csparse_quantize_vector_avx2(x, Int64(columns), q.baseAddress, nil, s.baseAddress)
            }
        }
    }

    /// The plain Swift twin of the vector loop.
    public mutating func referenceSet(_ x: UnsafePointer<Float>, columns: Int) {
        precondition(codes.count >= columns, "quantized vector: \(columns) values for \(codes.count)")
        codes.withUnsafeMutableBufferPointer { q in
            for g in 0..<scales.count {
                let c0 = g * QuantizedType.group, c1 = min(columns, c0 + QuantizedType.group)
                var amax: Float = 0
                for c in c0..<max(c0, c1) { amax = max(amax, abs(x[c])) }
                let d = amax / 127
                let inverse: Float = d != 0 ? 1 / d : 0
                scales[g] = d
                for c in c0..<max(c0, c1) { q[c] = Int8((x[c] * inverse).rounded()) }
            }
        }
    }
}

extension QuantizedMatrix {
    /// `y = W · x` with `x` quantized per 32 columns (``QuantizedVector``), rows split over
    /// `threads` by stored bytes. The kernel must support this CPU (``QuantizedKernel``).
    public func multiply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                         kernel: QuantizedKernel? = nil, threads: ComputeThreads = .single) {
        let kernel = kernel ?? QuantizedKernel.best
        guard kernel != .reference, SparseKernel.features & Int(CSPARSE_AVX2) != 0 else {
            var vector = QuantizedVector(columns: columns)
            vector.set(x, columns: columns)
            multiply(vector, into: y, kernel: kernel, threads: threads)
            return
        }
        // The decode path: the quantized input on the stack, no allocation per product.
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 2 * columns) { codes in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: max(1, groups)) { scales in
                let (q, negated) = (codes.baseAddress!, codes.baseAddress! + columns)
                csparse_quantize_vector_avx2(x, Int64(columns), q, negated, scales.baseAddress)
                multiply(codes: UnsafePointer(q), negated: UnsafePointer(negated), scales: UnsafePointer(scales.baseAddress!),
                         into: y, kernel: kernel, threads: threads)
            }
        }
    }

    /// `y = W · x` for an already quantized `x`.
    public func multiply(_ x: QuantizedVector, into y: UnsafeMutablePointer<Float>,
                         kernel: QuantizedKernel? = nil, threads: ComputeThreads = .single) {
        let kernel = kernel ?? QuantizedKernel.best
        precondition(kernel.isSupported, "the \(kernel) quantized kernel does not run on this CPU")
        precondition(x.codes.count == columns, "quantized GEMV: vector has \(x.codes.count) values, expected \(columns)")
        guard rows > 0 else { return }
        if kernel == .reference {
            referenceMultiply(x, into: y)
            return
        }
        let negated = x.codes.map { 0 &- $0 }
        x.codes.withUnsafeBufferPointer { codes in
            negated.withUnsafeBufferPointer { negated in
                x.scales.withUnsafeBufferPointer { scales in
                    multiply(codes: codes.baseAddress!, negated: negated.baseAddress!, scales: scales.baseAddress!, into: y,
                             kernel: kernel, threads: threads)
                }
            }
        }
    }

    /// The kernel on a quantized input (`columns` codes, their negation, `groups` scales); rows
    /// split over threads.
    private func multiply(codes: UnsafePointer<Int8>, negated: UnsafePointer<Int8>, scales: UnsafePointer<Float>,
                          into y: UnsafeMutablePointer<Float>, kernel: QuantizedKernel, threads: ComputeThreads) {
        guard rows > 0 else { return }
        let parts = chunkCount(weights: rows * columns, rows: rows, threads: threads)
        let shared = SharedOutput(y)
        withKernelMatrix { m in
            let run = { (r0: Int64, r1: Int64) in
                if kernel == .avx512 {
                    csparse_qgemv_avx512(m, codes, negated, scales, shared.pointer, r0, r1)
                } else {
                    csparse_qgemv_avx2(m, codes, scales, shared.pointer, r0, r1)
                }
            }
            guard parts > 1 else { return run(0, Int64(rows)) }
            let bounds = rowPartition(parts)
            forEachChunk(parts, threads: threads) { part in
                let (r0, r1) = (Int64(bounds[part]), Int64(bounds[part + 1]))
                if r1 > r0 { run(r0, r1) }
            }
        }
    }

    /// The reference twin of the kernels: per row and group, the exact integer sum of code ·
    /// `x`'s code, times the two scales, summed in `Float` group after group.
    public func referenceMultiply(_ x: QuantizedVector, into y: UnsafeMutablePointer<Float>) {
        var sums = [Int32](repeating: 0, count: groups)
        for r in 0..<rows {
            for g in 0..<groups { sums[g] = 0 }
            forEachStored(row: r) { g, j, code in sums[g] += code * Int32(x.codes[g * QuantizedType.group + j]) }
            var total: Float = 0
            for g in 0..<groups { total += Float(sums[g]) * (scale(row: r, group: g) * x.scales[g]) }
            y[r] = total
        }
    }

    /// Row boundaries of `parts` chunks of about equal stored bytes.
    func rowPartition(_ parts: Int) -> [Int] {
        partitionRows(offsets: rowOffsets, total: Int64(codeBytes), parts: parts)
    }

    /// `y = x · Wᵀ` for `x` `[count, columns]`, `y` `[count, rows]` (prefill): a few tokens one at
    /// a time through the GEMV kernel (the input quantized), more in tiles of rows dequantized to
    /// `Float` and multiplied with BLAS (the input not quantized).
    public func multiply(tokens x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>,
                         threads: ComputeThreads = .single) {
        if count <= Self.tokensThroughGEMV {
            var vector = QuantizedVector(columns: columns)
            var row = [Float](repeating: 0, count: rows)
            for t in 0..<count {
                vector.set(x + t * columns, columns: columns)
                row.withUnsafeMutableBufferPointer { multiply(vector, into: $0.baseAddress!, threads: threads) }
                for r in 0..<rows { y[t * rows + r] = row[r] }
            }
            return
        }
        TiledProduct.multiply(x, tokens: count, rows: rows, columns: columns, into: y) { range, tile in
            expand(rows: range, into: tile)
        }
    }

    /// Up to this many tokens a product runs as GEMVs: dequantizing the whole matrix costs more.
    public static let tokensThroughGEMV = 4

    func withKernelMatrix<R>(_ body: (UnsafePointer<csparse_qmatrix>) -> R) -> R {
        mask.withUnsafeBufferPointer { m in
            valueBytes.withUnsafeBufferPointer { v in
                scales.withUnsafeBufferPointer { s in
                    rowOffsets.withUnsafeBufferPointer { o in
                        var matrix = csparse_qmatrix(mask: isSparse ? m.baseAddress : nil, values: v.baseAddress,
                                                     scales: s.baseAddress, offsets: o.baseAddress, rows: Int64(rows),
                                                     cols: Int64(columns), stride: Int64(maskStride), type: type.code)
                        return withUnsafePointer(to: &matrix) { body($0) }
                    }
                }
            }
        }
    }
}

/// Which inner loop multiplies a ``QuantizedMatrix`` by a vector: the Swift reference, AVX2
/// (shuffle-table expand, `pmaddubsw`), or AVX-512 (VBMI2 `vpexpandb`, VNNI `vpdpbusd`), chosen
/// at run time from CPUID.
public enum QuantizedKernel: String, Sendable, CaseIterable, CustomStringConvertible {
    case reference
    case avx2
    case avx512

    public var isSupported: Bool {
        let f = SparseKernel.features
        switch self {
        case .reference: return true
        case .avx2: return f & Int(CSPARSE_AVX2) != 0
        case .avx512:
            let needed = Int(CSPARSE_AVX512) | Int(CSPARSE_AVX512VBMI2) | Int(CSPARSE_AVX512VNNI)
            return f & needed == needed
        }
    }

    /// The fastest kernel this CPU runs.
    public static var best: QuantizedKernel { [.avx512, .avx2].first { $0.isSupported } ?? .reference }

    /// The kernels this CPU runs, slowest first.
    public static var available: [QuantizedKernel] { allCases.filter(\.isSupported) }

    public var description: String { rawValue }
}
