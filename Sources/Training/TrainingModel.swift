import Kernels
import TensorCore
import Transformer

/// A decoder with frozen weights, ready for a training pass: loss and gradients of the trainable
/// values (``TrainableParameters``: LoRA adapters and optionally the norm gains), the gradient
/// reaching the input of every block (`dx = dy·W` through each frozen linear).
///
/// The same model as `Transformer.DecoderLayer` / `LanguageModel` (pre-norm blocks, RMSNorm,
/// RoPE in either convention, grouped-query causal attention, q/k/v biases, SwiGLU, tied or untied
/// head), written over ``TrainingScalar`` so one implementation runs in Float (training) and
/// Double (gradient checks). Every block is held decoded; the embedding and head are frozen.
public struct TrainingModel<Scalar: TrainingScalar>: Sendable {
    public let configuration: ModelConfiguration
    public let rotary: RotaryLayer<Scalar>
    public let embedding: TrainingMatrix<Scalar>   // [V, D]
    /// The untied LM head, or nil when the head is the embedding. `[V, D]`
    public let untiedHead: TrainingMatrix<Scalar>?
    public let finalNorm: [Scalar]                  // [D]
    public let blocks: [FrozenBlock<Scalar>]

    /// The model from decoded weights, for sequences of up to `maxSequenceLength` tokens; `head`
    /// nil when tied (``ModelConfiguration/tiedEmbeddings``).
    public init(configuration c: ModelConfiguration, convention: RotaryConvention, embedding: Matrix, head: Matrix?,
                finalNorm: [Float], blocks: [BlockWeights], maxSequenceLength: Int) throws {
        try c.validate(origin: "training model")
        precondition(blocks.count == c.layerCount && embedding.rows == c.vocabularySize && embedding.columns == c.hiddenSize
                     && finalNorm.count == c.hiddenSize && (head == nil) == c.tiedEmbeddings,
                     "training model: weights do not match the configuration")
        configuration = c
        rotary = RotaryLayer(try RotaryEmbedding(base: Double(c.ropeTheta), headDimension: c.headDimension,
                                                 maxPositions: maxSequenceLength, scaling: c.ropeScaling),
                             convention: convention)
        self.embedding = TrainingMatrix(embedding)
        untiedHead = head.map(TrainingMatrix.init)
        self.finalNorm = Scalar.converting(finalNorm)
        self.blocks = blocks.map(FrozenBlock.init)
    }

    /// The model of `checkpoint` (normally a `dlp prune` output), its blocks from `blockWeights`
    /// when given (pruned weights held in memory), else decoded from the checkpoint.
    public init(checkpoint: Checkpoint, maxSequenceLength: Int, blockWeights: ((Int) throws -> BlockWeights)? = nil) throws {
        let c = checkpoint.configuration
        let blocks = try (0..<c.layerCount).map { try blockWeights?($0) ?? checkpoint.block($0) }
        try self.init(configuration: c, convention: checkpoint.rotaryConvention, embedding: try checkpoint.tokenEmbedding(),
                      head: c.tiedEmbeddings ? nil : try checkpoint.outputHead(), finalNorm: try checkpoint.outputNorm(),
                      blocks: blocks, maxSequenceLength: maxSequenceLength)
    }

    /// The LM head: the embedding when tied. `[V, D]`
    public var head: TrainingMatrix<Scalar> { untiedHead ?? embedding }

    /// The embedding rows of `tokens` (ids in `0..<V`). `[T, D]`
    public func embed(_ tokens: [Int32]) -> TrainingMatrix<Scalar> {
        let d = configuration.hiddenSize
        var x = TrainingMatrix<Scalar>(rows: tokens.count, columns: d)
        for (t, id) in tokens.enumerated() {
            precondition(id >= 0 && Int(id) < configuration.vocabularySize, "token \(id) outside the vocabulary")
            x.storage.replaceSubrange((t * d)..<((t + 1) * d), with: embedding.storage[(Int(id) * d)..<((Int(id) + 1) * d)])
        }
        return x
    }

    /// The epsilon of every RMSNorm.
    var epsilon: Scalar { Scalar(configuration.rmsNormEpsilon) }
}
