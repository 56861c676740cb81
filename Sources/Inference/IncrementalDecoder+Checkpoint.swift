import Foundation
import Kernels
import Sparse
import TensorCore
import Transformer

extension IncrementalDecoder {
    /// The decoder for `checkpoint` with weights stored as `settings` say: each block linear dense
    /// or sparse (``SparseMode``) in ``DecodeSettings/valueType``, the LM head dense in that type.
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
        let headWeight = c.tiedEmbeddings ? embedding : try checkpoint.outputHead()
        let head = denseLinear(headWeight, valueType: settings.valueType)
        return try IncrementalDecoder(configuration: c, blocks: blocks, embedding: embedding, head: head,
                                      finalNorm: try checkpoint.outputNorm(), convention: checkpoint.rotaryConvention,
                                      capacity: capacity, chunk: chunk, threads: threads)
    }

    /// `weight` stored as `settings` say: sparse when its sparsity passes the mode, else dense.
    public static func makeLinear(dense weight: Matrix, settings: DecodeSettings) -> any LinearOperator {
        let zeros = weight.storage.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
        let sparsity = weight.count == 0 ? 0 : Double(zeros) / Double(weight.count)
        if settings.sparse.storesSparse(sparsity: sparsity, valueType: settings.valueType) {
            return SparseLinear(SparseMatrix(weight, valueType: settings.valueType))
        }
        return denseLinear(weight, valueType: settings.valueType)
    }

    /// A stored bitmask matrix as `settings` say: kept when sparse is chosen and the value type
    /// matches, converted otherwise.
    public static func makeLinear(sparse stored: SparseMatrix, settings: DecodeSettings) -> any LinearOperator {
        if settings.sparse.storesSparse(sparsity: stored.sparsity, valueType: settings.valueType) {
            return SparseLinear(stored.valueType == settings.valueType
                                ? stored : SparseMatrix(stored.dense(), valueType: settings.valueType))
        }
        return denseLinear(stored.dense(), valueType: settings.valueType)
    }

    /// `weight` dense in `valueType`: `Float` as is, or rounded to f16/bf16.
    static func denseLinear(_ weight: Matrix, valueType: SparseValueType) -> any LinearOperator {
        valueType == .f32 ? DenseFloatLinear(weight) : DenseHalfLinear(HalfMatrix(weight, valueType: valueType))
    }

    /// How many block linears are stored sparse, of how many.
    public var sparseLinearCount: (sparse: Int, total: Int) {
        let all = blocks.flatMap(\.linears)
        return (all.filter { $0.operator.storage.isSparse }.count, all.count)
    }
}
