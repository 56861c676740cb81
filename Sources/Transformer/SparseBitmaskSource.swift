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
    }

    /// Keyed by the dense name `X.weight`.
    let stored: [String: Stored]

    /// Checks and indexes the compressed weights of `checkpoint`.
    public init(_ checkpoint: SafetensorsCheckpoint) throws {
        self.checkpoint = checkpoint
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
            stored[weight] = try Self.check(prefix: prefix, parts: found, denseCopy: checkpoint.file(containing: weight))
        }
        var tensors: [TensorInfo] = []
        for file in checkpoint.files {
            for entry in file.entries {
                if let (prefix, part) = Self.split(entry.name) {
                    guard part == .compressed, let s = stored[prefix + ".weight"] else { continue }
                    tensors.append(TensorInfo(name: prefix + ".weight", dtype: s.valueType.dtype, shape: [s.rows, s.columns]))
                } else if let info = entry.info {
                    tensors.append(info)
                }
            }
        }
        self.stored = stored
        self.tensors = tensors
    }

    /// Decodes tensor `name`; a compressed weight is densified (its values rounded to the stored
    /// value type, zeros elsewhere).
    public func floats(_ name: String) throws -> [Float] {
        if let matrix = try sparseMatrix(name) { return matrix.dense().storage }
        return try checkpoint.floats(name)
    }

    /// The compressed weight `name` (`X.weight`) as stored, checked; nil when `name` is stored dense.
    public func sparseMatrix(_ name: String) throws -> SparseMatrix? {
        guard let s = stored[name] else { return nil }
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
                              denseCopy: SafetensorsFile?) throws -> Stored {
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
        guard let valueType = SparseValueType(values.dtype) else {
            throw SparseCheckpointError.unsupportedValueType(file: valueFile.url.path, tensor: values.name, dtype: values.dtype.rawValue)
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
        return Stored(prefix: prefix, files: [.shape: shapeFile, .bitmask: maskFile, .rowOffsets: offsetFile, .compressed: valueFile],
                      rows: rows, columns: columns, valueType: valueType)
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
