import Foundation
import Kernels
import Sparse
import TensorCore
import Transformer

extension IncrementalDecoder {
    /// The decoder for `checkpoint` with weights stored as `settings` say: each block linear dense
    /// or sparse (``SparseMode``) in ``DecodeSettings/valueType``, the LM head dense in that type.
    /// `sparseLinear(role, block)`, when given, supplies a block linear already in bitmask form (a
    /// sparse checkpoint) so it is not densified first; it returns nil for a dense tensor.
    /// `blockWeights`, when given, replaces the checkpoint's blocks (pruned weights held in memory).
    public static func load(_ checkpoint: Checkpoint, settings: DecodeSettings, capacity: Int,
                            threads: ComputeThreads = .single, chunk: Int = 256,
                            blockWeights: ((Int) throws -> BlockWeights)? = nil,
                            sparseLinear: ((TensorRole, Int) throws -> SparseMatrix?)? = nil) throws -> IncrementalDecoder {
        let c = checkpoint.configuration
        let blocks = try (0..<c.layerCount).map { index -> DecodingBlock in
            let w = try blockWeights?(index) ?? checkpoint.block(index)
            func op(_ role: TensorRole) throws -> any LinearOperator {
                if let stored = try sparseLinear?(role, index) {
                    return makeLinear(sparse: stored, settings: settings)
                }
                return makeLinear(dense: w[linear: role], settings: settings)
            }
            return DecodingBlock(attentionNorm: w.attentionNorm, feedForwardNorm: w.feedForwardNorm,
                                 query: try op(.query), key: try op(.key), value: try op(.value),
                                 attentionOutput: try op(.attentionOutput), gate: try op(.gate), up: try op(.up),
                                 down: try op(.down), queryBias: w.queryBias, keyBias: w.keyBias, valueBias: w.valueBias)
        }
        let embedding = try checkpoint.tokenEmbedding()
        let headWeight = c.tiedEmbeddings ? embedding : try checkpoint.outputHead()
        let head: any LinearOperator = settings.valueType == .f32
            ? DenseFloatLinear(headWeight) : DenseHalfLinear(HalfMatrix(headWeight, valueType: settings.valueType))
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
        return settings.valueType == .f32 ? DenseFloatLinear(weight) : DenseHalfLinear(HalfMatrix(weight, valueType: settings.valueType))
    }

    /// A stored bitmask matrix as `settings` say: kept when sparse is chosen and the value type
    /// matches, converted otherwise.
    public static func makeLinear(sparse stored: SparseMatrix, settings: DecodeSettings) -> any LinearOperator {
        if settings.sparse.storesSparse(sparsity: stored.sparsity, valueType: settings.valueType) {
            return SparseLinear(stored.valueType == settings.valueType
                                ? stored : SparseMatrix(stored.dense(), valueType: settings.valueType))
        }
        let dense = stored.dense()
        return settings.valueType == .f32 ? DenseFloatLinear(dense) : DenseHalfLinear(HalfMatrix(dense, valueType: settings.valueType))
    }

    /// How many block linears are stored sparse, of how many.
    public var sparseLinearCount: (sparse: Int, total: Int) {
        let all = blocks.flatMap(\.linears)
        return (all.filter { $0.operator.storage.isSparse }.count, all.count)
    }
}
