import TensorCore

/// A weight matrix `[rows, columns]` stored as a bitmask of its non-zeros and the non-zeros
/// themselves, row after row — the compressed-tensors "sparse-bitmask" layout:
///
/// - `mask`: `[rows, ⌈columns/8⌉]` bytes; bit `b` of byte `j` of a row is column `8j + b`
///   (least significant bit first), set where the weight is non-zero;
/// - values: the non-zeros in row-major order, as ``valueType``;
/// - `rowOffsets`: `[rows]`, the index of each row's first value (exclusive prefix sums).
///
/// At 70% sparsity this is 1 bit + 0.3 values per weight: 0.33× the dense bytes in f32, 0.36× in
/// bf16. Any matrix can be stored (an all-dense one costs one extra bit per weight).
public struct SparseMatrix: Sendable, Equatable {
    public let rows: Int
    public let columns: Int
    public let valueType: SparseValueType
    public let mask: [UInt8]
    public let rowOffsets: [Int64]
    public let nonZeroCount: Int
    /// The packed values' bytes (little-endian), followed by ``padding`` zero bytes the vector
    /// kernels may read past the last value.
    let valueBytes: [UInt8]

    /// Zero bytes after the last value.
    static let padding = 64

    /// Bytes per mask row, `⌈columns/8⌉`.
    public var maskStride: Int { (columns + 7) / 8 }

    /// Stores the non-zeros of `dense` (`±0` is zero) as `valueType`.
    public init(_ dense: Matrix, valueType: SparseValueType = .f32) {
        rows = dense.rows
        columns = dense.columns
        self.valueType = valueType
        let rows = dense.rows, columns = dense.columns, stride = (dense.columns + 7) / 8, size = valueType.size
        var mask = [UInt8](repeating: 0, count: rows * stride)
        var offsets = [Int64](repeating: 0, count: rows)
        // Two passes over typed buffers (appending each value's bytes to an array took 20 ns a
        // weight): the mask and the row offsets, then the values.
        var count = 0
        dense.storage.withUnsafeBufferPointer { w in
            mask.withUnsafeMutableBufferPointer { m in
                for r in 0..<rows {
                    offsets[r] = Int64(count)
                    let row = w.baseAddress! + r * columns, bits = m.baseAddress! + r * stride
                    for c in 0..<columns where row[c] != 0 {
                        bits[c >> 3] |= 1 << UInt8(c & 7)
                        count += 1
                    }
                }
            }
        }
        var bytes = [UInt8](repeating: 0, count: count * size + Self.padding)
        dense.storage.withUnsafeBufferPointer { w in
            bytes.withUnsafeMutableBytes { out in
                var index = 0
                for i in 0..<w.count where w[i] != 0 {
                    switch valueType {
                    case .f32: out.storeBytes(of: w[i].bitPattern.littleEndian, toByteOffset: index * 4, as: UInt32.self)
                    case .f16: out.storeBytes(of: HalfConversion.half(from: w[i]).littleEndian, toByteOffset: index * 2, as: UInt16.self)
                    case .bf16: out.storeBytes(of: HalfConversion.bfloat16(from: w[i]).littleEndian, toByteOffset: index * 2, as: UInt16.self)
                    }
                    index += 1
                }
            }
        }
        self.mask = mask
        rowOffsets = offsets
        nonZeroCount = count
        valueBytes = bytes
    }

    /// A matrix from its stored parts (as read from a file), checked: the mask's size, the row
    /// offsets against the mask's popcounts, the value count, no bits past a row's end. `name`
    /// names the tensor in errors.
    public init(rows: Int, columns: Int, valueType: SparseValueType, mask: [UInt8], rowOffsets: [Int64],
                values: [UInt8], name: String) throws {
        let stride = (columns + 7) / 8
        guard rows >= 0, columns >= 0, mask.count == rows * stride else {
            throw SparseFormatError.maskShape(tensor: name, expected: rows * stride, actual: mask.count)
        }
        guard rowOffsets.count == rows else {
            throw SparseFormatError.rowOffsets(tensor: name, row: min(rowOffsets.count, rows),
                                               detail: "\(rowOffsets.count) offsets for \(rows) rows")
        }
        let tailBits = columns % 8
        var count = 0
        for r in 0..<rows {
            guard rowOffsets[r] == Int64(count) else {
                throw SparseFormatError.rowOffsets(tensor: name, row: r, detail: "offset \(rowOffsets[r]), popcount of the rows before it \(count)")
            }
            let row = mask[(r * stride)..<((r + 1) * stride)]
            if tailBits != 0, let last = row.last, last >> UInt8(tailBits) != 0 {
                throw SparseFormatError.bitsPastEnd(tensor: name, row: r)
            }
            count += row.reduce(0) { $0 + $1.nonzeroBitCount }
        }
        guard values.count == count * valueType.size else {
            throw SparseFormatError.valueCount(tensor: name, expected: count, actual: values.count / valueType.size)
        }
        self.rows = rows
        self.columns = columns
        self.valueType = valueType
        self.mask = mask
        self.rowOffsets = rowOffsets
        nonZeroCount = count
        valueBytes = values + [UInt8](repeating: 0, count: Self.padding)
    }

    /// The packed values' bytes, little-endian, without padding (what a file stores).
    public var packedValues: ArraySlice<UInt8> { valueBytes.prefix(nonZeroCount * valueType.size) }

    /// Value number `index` of the packed values.
    public func value(at index: Int) -> Float {
        let o = index * valueType.size
        switch valueType {
        case .f32:
            return Float(bitPattern: UInt32(valueBytes[o]) | UInt32(valueBytes[o + 1]) << 8
                         | UInt32(valueBytes[o + 2]) << 16 | UInt32(valueBytes[o + 3]) << 24)
        case .f16: return HalfConversion.float(fromHalf: UInt16(valueBytes[o]) | UInt16(valueBytes[o + 1]) << 8)
        case .bf16: return HalfConversion.float(fromBFloat16: UInt16(valueBytes[o]) | UInt16(valueBytes[o + 1]) << 8)
        }
    }

    /// Whether the weight at `(r, c)` is stored (non-zero in the source).
    public func isStored(row r: Int, column c: Int) -> Bool {
        mask[r * maskStride + c / 8] >> UInt8(c % 8) & 1 == 1
    }

    /// The dense matrix (stored values rounded to ``valueType``, zeros elsewhere).
    public func dense() -> Matrix {
        var out = Matrix(rows: rows, columns: columns)
        let stride = maskStride
        var index = 0
        out.storage.withUnsafeMutableBufferPointer { storage in
            for r in 0..<rows {
                for j in 0..<stride {
                    // Set bits from least to most significant: column 8j + b in order.
                    var byte = mask[r * stride + j]
                    while byte != 0 {
                        storage[r * columns + 8 * j + byte.trailingZeroBitCount] = value(at: index)
                        index += 1
                        byte &= byte &- 1
                    }
                }
            }
        }
        return out
    }

    /// Fraction of weights not stored.
    public var sparsity: Double { rows * columns == 0 ? 0 : 1 - Double(nonZeroCount) / Double(rows * columns) }

    /// Bytes of the stored form — mask, values and the int64 row offsets — which is also what one
    /// product reads.
    public var storedBytes: Int { mask.count + nonZeroCount * valueType.size + rows * 8 }

    public static func == (a: SparseMatrix, b: SparseMatrix) -> Bool {
        a.rows == b.rows && a.columns == b.columns && a.valueType == b.valueType && a.mask == b.mask
            && a.rowOffsets == b.rowOffsets && a.packedValues == b.packedValues
    }
}
