import Foundation
import Sparse
import TensorCore
import TensorIO

/// Writes a model as a Hugging Face directory in the compressed-tensors sparse-bitmask layout
/// (``SparseBitmaskFormat``), what a `dlp prune` output's `sparse/` holds: the seven linears of
/// every block stored as bitmask + packed non-zeros + row offsets + shape, every other tensor
/// dense, all values in one ``SparseValueType``; names, q/k row order and the omitted tied head as
/// ``HuggingFaceExport`` writes them; `config.json` is the Hugging Face configuration plus the
/// compressed-tensors `quantization_config`. `dlp` reads it back with ``Checkpoint/open(_:)``;
/// compressed-tensors 0.14.x decompresses it (`scripts/reference/check_sparse_export.py`).
///
/// Exactness: a compressed weight reads back as its value rounded to `valueType` (exactly, for
/// `.f32`), except that a zero reads back as +0 whatever its sign (the format keeps no sign for
/// a weight it does not store, as compressed-tensors' `tensor != 0` mask does not).
///
/// A safetensors header lists every tensor's size before any data, and a compressed weight's size
/// is its non-zero count: the blocks are read twice (count, then write), one at a time.
public enum SparseExport {
    /// The folder name of a `dlp prune` output's sparse export.
    public static let folderName = "sparse"

    /// Writes `checkpoint` to `directory` with the values stored as `valueType`. `blockCount`
    /// limits the export to the first blocks (tests); `weights(block)` supplies replacement block
    /// weights (pruned ones) in the checkpoint's q/k row order, else the checkpoint's own are used.
    /// `structure` is recorded as `sparsity_structure` (`"unstructured"` or `"N:M"`). Returns the
    /// file names written.
    @discardableResult
    public static func write(_ checkpoint: Checkpoint, to directory: URL, valueType: SparseValueType = .bf16,
                             structure: String = "unstructured", blockCount: Int? = nil, maxShardBytes: Int = 2 << 30,
                             weights: ((Int) throws -> BlockWeights)? = nil) throws -> [String] {
        let tensors = HuggingFaceTensors(checkpoint, blockCount: blockCount, weights: weights)
        let dtype = valueType.safetensorsDType
        // Pass 1: the non-zero count of every compressed weight, and the zeros of the whole model.
        var nonZeros = [String: Int]()
        var zeros = 0, total = 0
        for entry in tensors.entries {
            let values = try tensors.values(entry)
            total += values.count
            if isCompressed(entry.role) {
                let count = values.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }
                nonZeros[entry.name] = count
                zeros += values.count - count
            } else {
                zeros += values.reduce(0) { $0 + (valueType.rounded($1) == 0 ? 1 : 0) }
            }
        }
        // Pass 2: the file. Each compressed weight's four tensors replace it, in the order the
        // compressor's `dict` lists them; the writer stores them largest element first.
        var plan: [SafetensorsWriter.Entry] = []
        var source: [String: (HuggingFaceTensors.Entry, SparseBitmaskFormat.Part?)] = [:]
        for entry in tensors.entries {
            guard isCompressed(entry.role), let count = nonZeros[entry.name] else {
                plan.append(.init(name: entry.name, dtype: dtype, shape: entry.shape))
                source[entry.name] = (entry, nil)
                continue
            }
            let (rows, columns) = (entry.shape[0], entry.shape[1])
            for part in SparseBitmaskFormat.Part.allCases {
                let name = SparseBitmaskFormat.name(of: part, weight: entry.name)
                let (partType, shape): (SafetensorsDType, [Int]) = switch part {
                case .shape: (.i64, [2])
                case .compressed: (dtype, [count])
                case .bitmask: (.u8, [rows, (columns + 7) / 8])
                case .rowOffsets: (.i64, [rows])
                }
                plan.append(.init(name: name, dtype: partType, shape: shape))
                source[name] = (entry, part)
            }
        }
        let config = configJSON(tensors.configuration, valueType: valueType,
                                globalSparsity: total == 0 ? 0 : Double(zeros) / Double(total), structure: structure)
        var last: (String, SparseMatrix)?
        return try SafetensorsWriter.writeCheckpoint(entries: plan, metadata: ["format": "pt"], to: directory,
                                                     maxShardBytes: maxShardBytes, config: config) { stored in
            guard let (entry, part) = source[stored.name] else { return [] }
            guard let part else { return SafetensorsWriter.bytes(try tensors.values(entry), as: dtype) }
            if part == .shape { return SafetensorsWriter.bytes(entry.shape.map(Int64.init)) }
            if last?.0 != entry.name { last = (entry.name, SparseMatrix(try tensors.matrix(entry), valueType: valueType)) }
            guard let matrix = last?.1 else { return [] }
            switch part {
            case .compressed: return Array(matrix.packedValues)
            case .bitmask: return matrix.mask
            case .rowOffsets: return SafetensorsWriter.bytes(matrix.rowOffsets)
            case .shape: return []
            }
        }
    }

    /// The tensors stored compressed: the seven block linears.
    static func isCompressed(_ role: TensorRole) -> Bool { TensorRole.linears.contains(role) }

    /// `config.json`: the Hugging Face configuration (``HuggingFaceExport/config(_:dtype:)``) with
    /// `quantization_config` (``SparseBitmaskFormat/quantizationConfig(globalSparsity:structure:)``).
    public static func configJSON(_ c: ModelConfiguration, valueType: SparseValueType, globalSparsity: Double,
                                  structure: String) -> JSONValue {
        guard case .object(var members) = HuggingFaceExport.config(c, dtype: valueType.dtype) else { return .null }
        members["quantization_config"] = SparseBitmaskFormat.quantizationConfig(globalSparsity: globalSparsity, structure: structure)
        return .object(members)
    }
}
