import Foundation
import Sparse
import TensorCore
import TensorIO

/// A checkpoint directory in the sparse-bitmask layout (``SparseBitmaskFormat``) seen as the
/// dense model it stores: ``tensors`` lists each compressed weight as `X.weight` (its value type,
/// the shape `X.shape` holds) in place of its four stored tensors, and ``floats(_:)`` decodes it
/// to dense `Float` (zeros where the bitmask is clear). ``sparseMatrix(_:)`` hands the same weight
/// out as a ``SparseMatrix`` without densifying.
///
/// With quantized values (``SparseBitmaskFormat``: I8 codes and an `X.weight_scale` per 32
/// inputs), a weight decodes to `code × scale`, ``sparseMatrix(_:)`` holds those values in F32,
/// and ``quantizedBlocks(_:)`` gives the weight back as the ggml blocks it was made from.
///
/// Opening checks what the headers and the small index tensors can tell: all four parts present
/// and nothing stored twice, their dtypes, the shapes against `X.shape`, the row offsets in range
/// (starting at 0, non-decreasing, at most `C` values per row, within the value count). The
/// bitmask's popcounts against the offsets and the value count are checked when a matrix is read
/// (``SparseMatrix/init(rows:columns:valueType:mask:rowOffsets:values:name:)``), which reads the
/// mask anyway.
public struct SparseBitmaskSource: TensorSource {
    /// The directory's files.
    public let checkpoint: SafetensorsCheckpoint
    /// Every tensor of the dense model, in file order.
    public let tensors: [TensorInfo]

    /// One compressed weight: where its parts are and what they hold.
    struct Stored: Sendable {
        /// `X` of `X.weight`.
        let prefix: String
        let files: [SparseBitmaskFormat.Part: SafetensorsFile]
        let rows: Int
        let columns: Int
        let valueType: SparseValueType
        /// The grid of quantized values (I8 codes); nil for float values.
        let quantized: QuantizedType?
        /// Where `X.weight_scale` is, for quantized values.
        let scaleFile: SafetensorsFile?
    }

    /// The grid the compressed values are on (the checkpoint's `quantization_config`); nil: floats.
    public let quantized: QuantizedType?

    /// Keyed by the dense name `X.weight`.
    let stored: [String: Stored]

    /// Checks and indexes the compressed weights of `checkpoint`, whose values are `quantized`
    /// codes (as its `quantization_config` declares) or floats (nil).
    public init(_ checkpoint: SafetensorsCheckpoint, quantized: QuantizedType? = nil) throws {
        self.checkpoint = checkpoint
        self.quantized = quantized
        var parts: [String: [SparseBitmaskFormat.Part: (SafetensorsFile, SafetensorsTensor)]] = [:]
        for file in checkpoint.files {
            for entry in file.entries {
                guard let (prefix, part) = Self.split(entry.name) else { continue }
                parts[prefix, default: [:]][part] = (file, entry)
            }
        }
        var stored: [String: Stored] = [:]
        for (prefix, found) in parts.sorted(by: { $0.key < $1.key }) {
            let weight = prefix + ".weight"
            stored[weight] = try Self.check(prefix: prefix, parts: found, denseCopy: checkpoint.file(containing: weight),
                                            quantized: quantized, scaleFile: checkpoint.file(containing: SparseBitmaskFormat.scaleName(weight: weight)))
        }
        let scales = Set(stored.keys.filter { stored[$0]?.quantized != nil }.map { SparseBitmaskFormat.scaleName(weight: $0) })
        var tensors: [TensorInfo] = []
        for file in checkpoint.files {
            for entry in file.entries {
                if let (prefix, part) = Self.split(entry.name) {
                    guard part == .compressed, let s = stored[prefix + ".weight"] else { continue }
                    tensors.append(TensorInfo(name: prefix + ".weight", dtype: s.quantized?.dtype ?? s.valueType.dtype, shape: [s.rows, s.columns]))
                } else if scales.contains(entry.name) {
                    continue   // part of a quantized weight
                } else if let info = entry.info {
                    tensors.append(info)
                }
            }
        }
        self.stored = stored
        self.tensors = tensors
    }

    /// Decodes tensor `name`; a compressed weight is densified (its values rounded to the stored
    /// value type, or `code × scale`, zeros elsewhere).
    public func floats(_ name: String) throws -> [Float] {
        if let s = stored[name], s.quantized != nil { return try dequantized(name, s) }
        if let matrix = try sparseMatrix(name) { return matrix.dense().storage }
        return try checkpoint.floats(name)
    }

    /// The codes of quantized weight `name` row-major (0 where the bitmask is clear), its scales
    /// `[rows, columns/32]`, checked: the bitmask against the offsets and the value count, every
    /// stored code non-zero and within the grid.
    func codes(_ name: String, _ s: Stored) throws -> (codes: [Int8], scales: [Float]) {
        guard let q = s.quantized, let maskFile = s.files[.bitmask], let offsetFile = s.files[.rowOffsets],
              let valueFile = s.files[.compressed], let scaleFile = s.scaleFile else { return ([], []) }
        let mask = try maskFile.storedBytes(SparseBitmaskFormat.name(of: .bitmask, weight: name), as: .u8)
        let offsets = try offsetFile.int64s(SparseBitmaskFormat.name(of: .rowOffsets, weight: name))
        let values = try valueFile.storedBytes(SparseBitmaskFormat.name(of: .compressed, weight: name), as: .i8)
        let scales = try scaleFile.floats(SparseBitmaskFormat.scaleName(weight: name))
        let stride = (s.columns + 7) / 8
        let (lowest, highest): (Int8, Int8) = q == .q8_0 ? (-128, 127) : (-8, 7)
        var codes = [Int8](repeating: 0, count: s.rows * s.columns)
        func damaged(_ row: Int, _ detail: String) -> SparseCheckpointError {
            .damaged(file: maskFile.url.path, error: .rowOffsets(tensor: s.prefix, row: row, detail: detail))
        }
        for r in 0..<s.rows {
            var index = Int(offsets[r])
            let end = r + 1 < s.rows ? Int(offsets[r + 1]) : values.count
            for c in 0..<s.columns where mask[r * stride + c / 8] >> UInt8(c % 8) & 1 == 1 {
                guard index < end else { throw damaged(r, "the bitmask marks more weights than its \(end - Int(offsets[r])) values") }
                let code = Int8(bitPattern: values[index])
                guard code != 0, code >= lowest, code <= highest else {
                    throw damaged(r, "column \(c): code \(code) is not a non-zero \(q) code (\(lowest)…\(highest))")
                }
                codes[r * s.columns + c] = code
                index += 1
            }
            guard index == end else { throw damaged(r, "\(end - Int(offsets[r])) values but \(index - Int(offsets[r])) bits set") }
        }
        return (codes, scales)
    }

    private func dequantized(_ name: String, _ s: Stored) throws -> [Float] {
        let (codes, scales) = try codes(name, s)
        let groups = s.columns / QuantizedType.group
        var out = [Float](repeating: 0, count: codes.count)
        for r in 0..<s.rows {
            for c in 0..<s.columns where codes[r * s.columns + c] != 0 {
                out[r * s.columns + c] = Float(codes[r * s.columns + c]) * scales[r * groups + c / QuantizedType.group]
            }
        }
        return out
    }

    /// Quantized weight `name` as the ggml blocks (``QuantizedType``'s layout, row-major) it was
    /// written from; nil for a weight stored dense or with float values, or when a scale is not an
    /// f16 value (written by another tool), which blocks cannot hold.
    public func quantizedBlocks(_ name: String) throws -> (blocks: [UInt8], type: QuantizedType, rows: Int, columns: Int)? {
        guard let s = stored[name], let q = s.quantized else { return nil }
        let (codes, scales) = try codes(name, s)
        let groups = s.columns / QuantizedType.group
        var blocks = [UInt8](repeating: 0, count: s.rows * groups * q.blockBytes)
        for (i, scale) in scales.enumerated() {
            let half = HalfConversion.half(from: scale)
            guard HalfConversion.float(fromHalf: half) == scale || (scale.isNaN && HalfConversion.float(fromHalf: half).isNaN) else { return nil }
            let r = i / groups, g = i % groups, base = i * q.blockBytes
            blocks[base] = UInt8(half & 0xFF)
            blocks[base + 1] = UInt8(half >> 8)
            for j in 0..<QuantizedType.group {
                let code = codes[r * s.columns + g * QuantizedType.group + j]
                switch q {
                case .q8_0: blocks[base + 2 + j] = UInt8(bitPattern: code)
                case .q4_0:
                    let nibble = UInt8(Int(code) + 8)
                    blocks[base + 2 + j % 16] |= j < 16 ? nibble : nibble << 4
                }
            }
        }
        return (blocks, q, s.rows, s.columns)
    }

    /// The compressed weight `name` (`X.weight`) as stored, checked; nil when `name` is stored
    /// dense. Quantized values come as their F32 values `code × scale`.
    public func sparseMatrix(_ name: String) throws -> SparseMatrix? {
        guard let s = stored[name] else { return nil }
        if s.quantized != nil {
            return SparseMatrix(Matrix(rows: s.rows, columns: s.columns, storage: try dequantized(name, s)), valueType: .f32)
        }
        func file(_ part: SparseBitmaskFormat.Part) -> SafetensorsFile? { s.files[part] }
        guard let maskFile = file(.bitmask), let offsetFile = file(.rowOffsets), let valueFile = file(.compressed) else { return nil }
        let mask = try maskFile.storedBytes(SparseBitmaskFormat.name(of: .bitmask, weight: name), as: .u8)
        let offsets = try offsetFile.int64s(SparseBitmaskFormat.name(of: .rowOffsets, weight: name))
        let values = try valueFile.storedBytes(SparseBitmaskFormat.name(of: .compressed, weight: name), as: s.valueType.safetensorsDType)
        do {
            return try SparseMatrix(rows: s.rows, columns: s.columns, valueType: s.valueType, mask: mask, rowOffsets: offsets,
                                    values: values, name: s.prefix)
        } catch let error as SparseFormatError {
            throw SparseCheckpointError.damaged(file: maskFile.url.path, error: error)
        }
    }

    /// The weights stored compressed (`X.weight` names).
    public var compressedWeights: [String] { stored.keys.sorted() }

    /// Where `X.shape` of compressed weight `name` is: its name and file.
    func shapeTensor(of name: String) -> (name: String, file: String)? {
        guard let s = stored[name], let file = s.files[.shape] else { return nil }
        return (SparseBitmaskFormat.name(of: .shape, weight: name), file.url.path)
    }

    /// `("X", .bitmask)` for `X.bitmask`; nil for a name that is no part.
    static func split(_ name: String) -> (String, SparseBitmaskFormat.Part)? {
        for part in SparseBitmaskFormat.Part.allCases where name.hasSuffix("." + part.rawValue) {
            return (String(name.dropLast(part.rawValue.count + 1)), part)
        }
        return nil
    }

    /// Checks one weight's parts against each other (headers and the small index tensors).
    private static func check(prefix: String, parts: [SparseBitmaskFormat.Part: (SafetensorsFile, SafetensorsTensor)],
                              denseCopy: SafetensorsFile?, quantized: QuantizedType?, scaleFile: SafetensorsFile?) throws -> Stored {
        let anyFile = parts.values.first.map { $0.0.url.path } ?? ""
        let missing = SparseBitmaskFormat.Part.allCases.filter { parts[$0] == nil }
        guard missing.isEmpty, let (shapeFile, shape) = parts[.shape], let (maskFile, mask) = parts[.bitmask],
              let (offsetFile, offsets) = parts[.rowOffsets], let (valueFile, values) = parts[.compressed] else {
            let present = SparseBitmaskFormat.Part.allCases.filter { parts[$0] != nil }.map { "\(prefix).\($0.rawValue)" }
            throw SparseCheckpointError.incompleteTensor(
                file: anyFile, tensor: prefix,
                detail: "has \(present.joined(separator: ", ")) but no \(missing.map { "\(prefix).\($0.rawValue)" }.joined(separator: ", "))")
        }
        if let denseCopy {
            throw SparseCheckpointError.incompleteTensor(file: denseCopy.url.path, tensor: prefix,
                                                         detail: "stored both as \(prefix).weight and compressed")
        }
        for (file, entry, dtype) in [(shapeFile, shape, SafetensorsDType.i64), (maskFile, mask, .u8), (offsetFile, offsets, .i64)]
        where entry.dtype != dtype {
            throw SafetensorsError.dtypeMismatch(file: file.url.path, tensor: entry.name, expected: dtype.rawValue, actual: entry.dtype.rawValue)
        }
        let valueType: SparseValueType
        if quantized != nil {
            guard values.dtype == .i8 else {
                throw SafetensorsError.dtypeMismatch(file: valueFile.url.path, tensor: values.name, expected: SafetensorsDType.i8.rawValue,
                                                     actual: values.dtype.rawValue)
            }
            valueType = .f32
        } else {
            guard let type = SparseValueType(values.dtype) else {
                throw SparseCheckpointError.unsupportedValueType(file: valueFile.url.path, tensor: values.name, dtype: values.dtype.rawValue)
            }
            valueType = type
        }
        guard shape.shape == [2] else {
            throw SparseCheckpointError.shapeDisagrees(file: shapeFile.url.path, tensor: shape.name,
                                                       detail: "has shape \(shape.shape); expected [2] (rows, columns)")
        }
        let dims = try shapeFile.int64s(shape.name)
        guard dims.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }) else {
            throw SparseCheckpointError.shapeDisagrees(file: shapeFile.url.path, tensor: shape.name, detail: "holds \(dims), not a matrix shape")
        }
        let (rows, columns) = (Int(dims[0]), Int(dims[1]))
        let stride = (columns + 7) / 8
        guard mask.shape == [rows, stride] else {
            throw SparseCheckpointError.shapeDisagrees(
                file: maskFile.url.path, tensor: mask.name,
                detail: "has shape \(mask.shape); \(shape.name) [\(rows), \(columns)] needs [\(rows), \(stride)] (rows, ⌈columns/8⌉)")
        }
        guard offsets.shape == [rows] else {
            throw SparseCheckpointError.shapeDisagrees(file: offsetFile.url.path, tensor: offsets.name,
                                                       detail: "has shape \(offsets.shape); \(shape.name) [\(rows), \(columns)] needs [\(rows)]")
        }
        guard values.shape.count == 1, values.shape[0] <= rows * columns else {
            throw SparseCheckpointError.shapeDisagrees(file: valueFile.url.path, tensor: values.name,
                                                       detail: "has shape \(values.shape); expected [n] with n ≤ \(rows * columns) (rows × columns)")
        }
        let count = Int64(values.shape[0])
        let starts = try offsetFile.int64s(offsets.name)
        for (row, start) in starts.enumerated() {
            let end = row + 1 < rows ? starts[row + 1] : count
            let problem: String?
            if row == 0, start != 0 {
                problem = "offset \(start); the first row starts at 0"
            } else if start < 0 || start > count {
                problem = "offset \(start) is outside 0...\(count) (the number of stored values)"
            } else if end < start {
                problem = "offset \(start) is past the next row's \(end)"
            } else if end - start > Int64(columns) {
                problem = "\(end - start) values for \(columns) columns"
            } else {
                problem = nil
            }
            if let problem {
                throw SparseCheckpointError.rowOffsetsOutOfRange(file: offsetFile.url.path, tensor: offsets.name, row: row, detail: problem)
            }
        }
        if let quantized {
            let scaleName = SparseBitmaskFormat.scaleName(weight: prefix + ".weight")
            guard let scaleFile, let scales = scaleFile.entries.first(where: { $0.name == scaleName }) else {
                throw SparseCheckpointError.incompleteTensor(file: anyFile, tensor: prefix,
                                                             detail: "has \(quantized) codes but no \(scaleName)")
            }
            guard columns % QuantizedType.group == 0, scales.shape == [rows, columns / QuantizedType.group] else {
                throw SparseCheckpointError.shapeDisagrees(
                    file: scaleFile.url.path, tensor: scaleName,
                    detail: "has shape \(scales.shape); \(shape.name) [\(rows), \(columns)] needs [\(rows), \(columns / QuantizedType.group)] "
                        + "(one scale per \(QuantizedType.group) inputs\(columns % QuantizedType.group == 0 ? "" : "; \(columns) columns are no whole number of groups"))")
            }
            guard scales.info != nil else {
                throw SafetensorsError.dtypeMismatch(file: scaleFile.url.path, tensor: scaleName, expected: "F32, F16 or BF16",
                                                     actual: scales.dtype.rawValue)
            }
        }
        return Stored(prefix: prefix, files: [.shape: shapeFile, .bitmask: maskFile, .rowOffsets: offsetFile, .compressed: valueFile],
                      rows: rows, columns: columns, valueType: valueType, quantized: quantized, scaleFile: quantized == nil ? nil : scaleFile)
    }
}

extension SparseValueType {
    /// The float `DType` of this value type.
    var dtype: DType {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        }
    }

    /// The safetensors dtype of this value type.
    var safetensorsDType: SafetensorsDType {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        }
    }

    /// The value type a safetensors dtype stores, or nil for one that is not F32, F16 or BF16.
    init?(_ dtype: SafetensorsDType) {
        switch dtype {
        case .f32: self = .f32
        case .f16: self = .f16
        case .bf16: self = .bf16
        default: return nil
        }
    }
}
