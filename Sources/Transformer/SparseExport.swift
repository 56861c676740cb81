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
    /// weights (pruned ones) in the checkpoint's q/k row order, else the checkpoint's own are used;
    /// `outputNorm` replaces the final norm gain (a fine-tuned one). `structure` is recorded as `sparsity_structure` (`"unstructured"` or `"N:M"`). Returns the
    /// file names written.
    ///
    /// A quantized `valueType` (Q8_0, Q4_0) stores each block linear's weights rounded to nearest
    /// on ggml's grid (the codes and scales `--gguf-dtype` would write; a weight already on the
    /// grid, as `--quantize` leaves it, is kept exactly) as I8 codes with an F32 `X.weight_scale`,
    /// the other tensors in BF16, and declares `torch_dtype` float32 (the type in which
    /// `code × scale` is exact). Rows must be whole groups of 32 inputs.
    ///
    /// - Throws: ``ModelError/invalidValue(key:value:origin:reason:)`` for a linear whose rows are
    ///   no whole number of 32-input groups with a quantized type.
    @discardableResult
    public static func write(_ checkpoint: Checkpoint, to directory: URL, valueType: WeightType = .bf16,
                             structure: String = "unstructured", blockCount: Int? = nil, maxShardBytes: Int = 2 << 30,
                             weights: ((Int) throws -> BlockWeights)? = nil, outputNorm: [Float]? = nil) throws -> [String] {
        let tensors = HuggingFaceTensors(checkpoint, blockCount: blockCount, weights: weights, outputNorm: outputNorm)
        let quantized = valueType.quantizedType
        let denseType = valueType.floatType ?? .bf16
        let dtype = denseType.safetensorsDType
        if let quantized {
            for entry in tensors.entries where isCompressed(entry.role) && !QuantizedMatrix.canHold(columns: entry.shape[1]) {
                throw ModelError.invalidValue(key: "sparse value type", value: valueType.rawValue, origin: entry.name,
                                              reason: "\(quantized) needs rows of whole \(QuantizedType.group)-input groups; \(entry.name) has \(entry.shape[1]) columns. Use f32, f16 or bf16")
            }
        }
        // Pass 1: the non-zero count of every compressed weight (of its codes, when quantized),
        // and the zeros of the whole model.
        var nonZeros = [String: Int]()
        var zeros = 0, total = 0
        for entry in tensors.entries {
            let values = try tensors.values(entry)
            total += values.count
            if isCompressed(entry.role) {
                let count = if let quantized {
                    QuantizedMatrix(Matrix(rows: entry.shape[0], columns: entry.shape[1], storage: values), type: quantized, sparse: true).storedCount
                } else {
                    values.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }
                }
                nonZeros[entry.name] = count
                zeros += values.count - count
            } else {
                zeros += values.reduce(0) { $0 + (denseType.rounded($1) == 0 ? 1 : 0) }
            }
        }
        // Pass 2: the file. Each compressed weight's four tensors replace it, in the order the
        // compressor's `dict` lists them (then its scales); the writer stores them largest
        // element first.
        enum Source { case dense, part(SparseBitmaskFormat.Part), scales }
        var plan: [SafetensorsWriter.Entry] = []
        var source: [String: (HuggingFaceTensors.Entry, Source)] = [:]
        for entry in tensors.entries {
            guard isCompressed(entry.role), let count = nonZeros[entry.name] else {
                plan.append(.init(name: entry.name, dtype: dtype, shape: entry.shape))
                source[entry.name] = (entry, .dense)
                continue
            }
            let (rows, columns) = (entry.shape[0], entry.shape[1])
            for part in SparseBitmaskFormat.Part.allCases {
                let name = SparseBitmaskFormat.name(of: part, weight: entry.name)
                let (partType, shape): (SafetensorsDType, [Int]) = switch part {
                case .shape: (.i64, [2])
                case .compressed: (quantized == nil ? dtype : .i8, [count])
                case .bitmask: (.u8, [rows, (columns + 7) / 8])
                case .rowOffsets: (.i64, [rows])
                }
                plan.append(.init(name: name, dtype: partType, shape: shape))
                source[name] = (entry, .part(part))
            }
            if quantized != nil {
                let name = SparseBitmaskFormat.scaleName(weight: entry.name)
                plan.append(.init(name: name, dtype: .f32, shape: [rows, columns / QuantizedType.group]))
                source[name] = (entry, .scales)
            }
        }
        let config = configJSON(tensors.configuration, valueType: valueType,
                                globalSparsity: total == 0 ? 0 : Double(zeros) / Double(total), structure: structure)
        var last: (String, SparseMatrix)?
        var lastQuantized: (String, QuantizedParts)?
        return try SafetensorsWriter.writeCheckpoint(entries: plan, metadata: ["format": "pt"], to: directory,
                                                     maxShardBytes: maxShardBytes, config: config) { stored in
            guard let (entry, kind) = source[stored.name] else { return [] }
            let part: SparseBitmaskFormat.Part
            switch kind {
            case .dense: return SafetensorsWriter.bytes(try tensors.values(entry), as: dtype)
            case .scales, .part:
                if case .part(let p) = kind { part = p } else { part = .shape }
            }
            if case .part(.shape) = kind { return SafetensorsWriter.bytes(entry.shape.map(Int64.init)) }
            if let quantized {
                if lastQuantized?.0 != entry.name {
                    lastQuantized = (entry.name, QuantizedParts(try tensors.matrix(entry), type: quantized))
                }
                guard let q = lastQuantized?.1 else { return [] }
                if case .scales = kind { return SafetensorsWriter.bytes(q.scales, as: .f32) }
                switch part {
                case .compressed: return q.codes
                case .bitmask: return q.mask
                case .rowOffsets: return SafetensorsWriter.bytes(q.rowOffsets)
                case .shape: return []
                }
            }
            if last?.0 != entry.name { last = (entry.name, SparseMatrix(try tensors.matrix(entry), valueType: denseType)) }
            guard let matrix = last?.1 else { return [] }
            switch part {
            case .compressed: return Array(matrix.packedValues)
            case .bitmask: return matrix.mask
            case .rowOffsets: return SafetensorsWriter.bytes(matrix.rowOffsets)
            case .shape: return []
            }
        }
    }

    /// One linear rounded to nearest on a ggml grid, in the bitmask layout: the non-zero codes
    /// (I8 bytes, row-major), the bitmask of non-zero codes, row offsets, and the scales widened
    /// to F32 `[rows, columns/32]`.
    struct QuantizedParts {
        var codes: [UInt8] = []
        var mask: [UInt8]
        var rowOffsets: [Int64]
        var scales: [Float]

        init(_ matrix: Matrix, type: QuantizedType) {
            let blocks = quantize(matrix.storage, as: type.dtype)
            let (rows, columns) = (matrix.rows, matrix.columns)
            let groups = columns / QuantizedType.group, stride = (columns + 7) / 8
            mask = [UInt8](repeating: 0, count: rows * stride)
            rowOffsets = [Int64](repeating: 0, count: rows)
            scales = [Float](repeating: 0, count: rows * groups)
            blocks.withUnsafeBytes { raw in
                for r in 0..<rows {
                    rowOffsets[r] = Int64(codes.count)
                    for g in 0..<groups {
                        let block = raw.baseAddress! + (r * groups + g) * type.blockBytes
                        let half = UInt16(block.load(as: UInt8.self)) | UInt16(block.load(fromByteOffset: 1, as: UInt8.self)) << 8
                        scales[r * groups + g] = HalfConversion.float(fromHalf: half)
                        for j in 0..<QuantizedType.group {
                            let code: Int8 = switch type {
                            case .q8_0: block.load(fromByteOffset: 2 + j, as: Int8.self)
                            case .q4_0: Int8(j < 16 ? block.load(fromByteOffset: 2 + j, as: UInt8.self) & 0x0F
                                                    : block.load(fromByteOffset: 2 + j - 16, as: UInt8.self) >> 4) - 8
                            }
                            guard code != 0 else { continue }
                            let c = g * QuantizedType.group + j
                            mask[r * stride + c / 8] |= 1 << UInt8(c % 8)
                            codes.append(UInt8(bitPattern: code))
                        }
                    }
                }
            }
        }
    }

    /// The tensors stored compressed: the seven block linears.
    static func isCompressed(_ role: TensorRole) -> Bool { TensorRole.linears.contains(role) }

    /// `config.json`: the Hugging Face configuration (``HuggingFaceExport/config(_:dtype:)``) with
    /// `quantization_config` (``SparseBitmaskFormat/quantizationConfig(globalSparsity:structure:)``).
    public static func configJSON(_ c: ModelConfiguration, valueType: WeightType, globalSparsity: Double,
                                  structure: String) -> JSONValue {
        guard case .object(var members) = HuggingFaceExport.config(c, dtype: valueType.floatType?.dtype ?? .f32) else { return .null }
        members["quantization_config"] = SparseBitmaskFormat.quantizationConfig(globalSparsity: globalSparsity, structure: structure,
                                                                                quantized: valueType.quantizedType)
        return .object(members)
    }
}
