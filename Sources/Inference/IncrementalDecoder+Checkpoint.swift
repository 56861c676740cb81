import Foundation
import Kernels
import Sparse
import TensorCore
import TensorIO
import Transformer

extension IncrementalDecoder {
    /// The decoder for `checkpoint` with weights stored as `settings` say: each block linear dense
    /// or sparse (``SparseMode``) in ``DecodeSettings/valueType``, the LM head dense in
    /// ``DecodeSettings/headType``. A GGUF tensor already stored as the quantized type asked for
    /// is held as stored (its blocks, exactly; a sparse one's mask is its non-zero codes).
    /// `sparseLinear(role, block)` supplies a block linear already in bitmask form so it is not
    /// densified first (nil for a dense tensor); by default a sparse-bitmask checkpoint's own.
    /// `blockWeights`, when given, replaces the checkpoint's blocks (pruned weights held in memory).
    public static func load(_ checkpoint: Checkpoint, settings: DecodeSettings, capacity: Int,
                            threads: ComputeThreads = .single, chunk: Int = 256,
                            blockWeights: ((Int) throws -> BlockWeights)? = nil,
                            sparseLinear: ((TensorRole, Int) throws -> SparseMatrix?)? = nil) throws -> IncrementalDecoder {
        let c = checkpoint.configuration
        // A sparse checkpoint hands out its linears in bitmask form; nothing is densified then.
        let stored = sparseLinear ?? (checkpoint.isSparse && blockWeights == nil
                                      ? { try checkpoint.sparseLinear($0, block: $1) } : nil)
        let blocks = try (0..<c.layerCount).map { index -> DecodingBlock in
            var decoded: BlockWeights?
            func weights() throws -> BlockWeights {
                if let decoded { return decoded }
                let w = try blockWeights?(index) ?? checkpoint.block(index)
                decoded = w
                return w
            }
            func op(_ role: TensorRole) throws -> any LinearOperator {
                if blockWeights == nil, let quantized = try storedQuantized(checkpoint, role.name(in: checkpoint.format, block: index),
                                                                             settings: settings) {
                    return quantized
                }
                if let matrix = try stored?(role, index) { return makeLinear(sparse: matrix, settings: settings) }
                return makeLinear(dense: try weights()[linear: role], settings: settings)
            }
            func vector(_ role: TensorRole) throws -> [Float] {
                if blockWeights != nil { return try weights().tensor(role) }
                return try checkpoint.tensor(role, block: index)
            }
            let bias = c.architecture.hasAttentionBias
            return DecodingBlock(attentionNorm: try vector(.attentionNorm), feedForwardNorm: try vector(.feedForwardNorm),
                                 query: try op(.query), key: try op(.key), value: try op(.value),
                                 attentionOutput: try op(.attentionOutput), gate: try op(.gate), up: try op(.up),
                                 down: try op(.down), queryBias: bias ? try vector(.queryBias) : nil,
                                 keyBias: bias ? try vector(.keyBias) : nil, valueBias: bias ? try vector(.valueBias) : nil)
        }
        let embedding = try checkpoint.tokenEmbedding()
        let headName = (c.tiedEmbeddings ? TensorRole.tokenEmbedding : .output).name(in: checkpoint.format, block: 0)
        let headSettings = DecodeSettings(valueType: settings.headType, sparse: .off)
        let head = try storedQuantized(checkpoint, headName, settings: headSettings)
            ?? denseLinear(c.tiedEmbeddings ? embedding : try checkpoint.outputHead(), valueType: settings.headType)
        return try IncrementalDecoder(configuration: c, blocks: blocks, embedding: embedding, head: head,
                                      finalNorm: try checkpoint.outputNorm(), convention: checkpoint.rotaryConvention,
                                      capacity: capacity, chunk: chunk, threads: threads)
    }

    /// `weight` stored as `settings` say: sparse when its sparsity passes the mode, else dense.
    /// A quantized type needs whole 32-column groups (``QuantizedMatrix/canHold(columns:)``); a
    /// matrix without them stays f32.
    public static func makeLinear(dense weight: Matrix, settings: DecodeSettings) -> any LinearOperator {
        if let q = settings.valueType.quantizedType {
            guard QuantizedMatrix.canHold(columns: weight.columns) else { return makeLinear(dense: weight, settings: DecodeSettings(valueType: .f32, sparse: settings.sparse)) }
            let blocks = quantize(weight.storage, as: q.dtype)
            return blocks.withUnsafeBytes {
                quantizedLinear(blocks: $0, rows: weight.rows, columns: weight.columns, type: q, settings: settings)
            }
        }
        let type = settings.valueType.floatType!
        let zeros = weight.storage.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
        let sparsity = weight.count == 0 ? 0 : Double(zeros) / Double(weight.count)
        if settings.sparse.storesSparse(sparsity: sparsity, valueType: settings.valueType) {
            return SparseLinear(SparseMatrix(weight, valueType: type))
        }
        return denseLinear(weight, valueType: settings.valueType)
    }

    /// A stored bitmask matrix as `settings` say: kept when sparse is chosen and the value type
    /// matches, converted otherwise.
    public static func makeLinear(sparse stored: SparseMatrix, settings: DecodeSettings) -> any LinearOperator {
        guard let type = settings.valueType.floatType else { return makeLinear(dense: stored.dense(), settings: settings) }
        if settings.sparse.storesSparse(sparsity: stored.sparsity, valueType: settings.valueType) {
            return SparseLinear(stored.valueType == type ? stored : SparseMatrix(stored.dense(), valueType: type))
        }
        return denseLinear(stored.dense(), valueType: settings.valueType)
    }

    /// Tensor `name` as stored when it is on the grid `settings` asks for (Q8_0 / Q4_0) — a GGUF
    /// tensor of that block type, or a sparse-bitmask checkpoint's weight with those codes —
    /// sparse or dense as the mode says of its non-zero codes; nil otherwise.
    static func storedQuantized(_ checkpoint: Checkpoint, _ name: String, settings: DecodeSettings) throws -> (any LinearOperator)? {
        guard let q = settings.valueType.quantizedType else { return nil }
        if let sparse = checkpoint.source as? SparseBitmaskSource {
            guard let stored = try sparse.quantizedBlocks(name), stored.type == q else { return nil }
            return stored.blocks.withUnsafeBytes {
                quantizedLinear(blocks: $0, rows: stored.rows, columns: stored.columns, type: q, settings: settings)
            }
        }
        guard let file = checkpoint.source as? GGUFFile,
              let info = checkpoint.source.info(name), info.dtype == q.dtype, info.shape.count == 2,
              QuantizedMatrix.canHold(columns: info.shape[1]) else { return nil }
        return try file.withRawBytes(name) {
            quantizedLinear(blocks: $0, rows: info.shape[0], columns: info.shape[1], type: q, settings: settings)
        }
    }

    /// ggml `type` blocks held sparse when the share of zero codes passes the mode (so a kept
    /// weight that rounded to zero is not stored either), else dense.
    static func quantizedLinear(blocks: UnsafeRawBufferPointer, rows: Int, columns: Int, type: QuantizedType,
                                settings: DecodeSettings) -> QuantizedLinear {
        if settings.sparse != .off {
            let sparse = QuantizedMatrix(blocks: blocks, rows: rows, columns: columns, type: type, sparse: true)
            if settings.sparse.storesSparse(sparsity: sparse.sparsity, valueType: settings.valueType) { return QuantizedLinear(sparse) }
        }
        return QuantizedLinear(QuantizedMatrix(blocks: blocks, rows: rows, columns: columns, type: type, sparse: false))
    }

    /// `weight` dense in `valueType`: `Float` as is, rounded to f16/bf16, or quantized.
    static func denseLinear(_ weight: Matrix, valueType: WeightType) -> any LinearOperator {
        switch valueType {
        case .f32: return DenseFloatLinear(weight)
        case .f16, .bf16: return DenseHalfLinear(HalfMatrix(weight, valueType: valueType.floatType!))
        case .q8_0, .q4_0:
            guard QuantizedMatrix.canHold(columns: weight.columns) else { return DenseFloatLinear(weight) }
            return QuantizedLinear(QuantizedMatrix(weight, type: valueType.quantizedType!, sparse: false))
        }
    }

    /// How many block linears are stored sparse, of how many.
    public var sparseLinearCount: (sparse: Int, total: Int) {
        let all = blocks.flatMap(\.linears)
        return (all.filter { $0.operator.storage.isSparse }.count, all.count)
    }
}
