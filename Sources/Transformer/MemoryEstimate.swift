/// Peak memory of a block-by-block pruning run, estimated from the configuration before any
/// work starts (bytes, `Float` storage). With `N` calibration sequences of `T` tokens:
///
/// - calibration activations: the hidden states of every sequence, `N·T·D` floats (blocks run
///   in place), plus one sequence `T·D` for the observing pass;
/// - forward scratch for one sequence: q, k, v and attention output `T·(2·H·d + 2·K·d)`, one
///   head's attention scores `T²`, and the MLP's gate and up activations `2·T·F`;
/// - one block's weights in `Float`, twice (the weights being pruned and the copy that is
///   scored);
/// - SparseGPT's Hessians, one per distinct linear input: `D²` (q/k/v), `(H·d)²` (o),
///   `D²` (gate/up), `F²` (down);
/// - the token embedding in `Float`, `V·D` (needed to embed the calibration tokens).
///
/// The memory-mapped model file is not counted: its pages are shared, clean and evictable.
public struct MemoryEstimate: Sendable, Codable, Equatable {
    public var calibrationActivations: Int
    public var forwardScratch: Int
    public var blockWeights: Int
    public var hessians: Int
    public var embedding: Int

    /// Sum of the parts.
    public var total: Int { calibrationActivations + forwardScratch + blockWeights + hessians + embedding }

    /// The estimate for `samples` sequences of `sequenceLength` tokens.
    public init(configuration c: ModelConfiguration, samples: Int, sequenceLength t: Int) {
        let f = MemoryLayout<Float>.size
        let q = c.headCount * c.headDimension, kv = c.keyValueHeadCount * c.headDimension
        calibrationActivations = (samples + 1) * t * c.hiddenSize * f
        forwardScratch = (t * (2 * q + 2 * kv) + t * t + 2 * t * c.intermediateSize) * f
        blockWeights = 2 * c.parametersPerBlock * f
        hessians = (2 * c.hiddenSize * c.hiddenSize + q * q + c.intermediateSize * c.intermediateSize) * f
        embedding = c.vocabularySize * c.hiddenSize * f
    }
}
