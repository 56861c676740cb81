/// Peak memory of running a model without pruning it (`dlp perplexity`, `dlp eval`, `dlp
/// generate`), estimated from the configuration before anything is decoded (bytes). Parts shared
/// with ``MemoryEstimate``: `runtime` (48 MiB), the mapped model file, the token embedding `V·D`
/// floats and an untied head, another `V·D`.
///
/// - evaluation with sequences of `T` tokens: the activations the evaluator batches, at most
///   `activationBudget` (always at least one sequence, `T·D`); one block's weights in `Float`
///   (blocks are decoded one at a time); the forward scratch of one sequence as in
///   ``MemoryEstimate`` (q, k, v, attention output, one head's `T²` scores, gate and up); the
///   logits `T·V`; the rotary tables `2·T·d`;
/// - generation with a cache of `P` positions: every block's weights held at
///   `weightBytesPerParameter` (4 for f32, 2 for f16/bf16; a sparse linear takes less, so this is
///   an upper bound), the key/value cache `2·L·P·K·d` floats and the rotary tables `2·P·d`.
///
/// Sizes are computed in `Double` and each part saturates at 2⁶⁰ bytes, so an absurd
/// `--seqlen` gives an absurd estimate (and a refusal), not an overflow.
public struct InferenceMemoryEstimate: Sendable, Equatable {
    /// Runtime, mapped file, embedding and head.
    public var model: Int
    /// Weights decoded or held for the blocks.
    public var blockWeights: Int
    /// Activations, scratch, logits, rotary tables and (generation) the key/value cache.
    public var workingSet: Int
    /// What dominates `workingSet`, for messages: e.g. "key/value cache 4.00 GiB".
    public var dominantPart: (name: String, bytes: Int)

    /// Estimated peak resident memory.
    public var total: Int { model + blockWeights + workingSet }

    public static func == (a: Self, b: Self) -> Bool {
        a.model == b.model && a.blockWeights == b.blockWeights && a.workingSet == b.workingSet
            && a.dominantPart.name == b.dominantPart.name && a.dominantPart.bytes == b.dominantPart.bytes
    }

    private static func model(_ c: ModelConfiguration, mappedModelBytes: Int) -> Int {
        bytes(Double(48 << 20) + Double(mappedModelBytes) + Double(c.vocabularySize * c.hiddenSize) * 4 * (c.tiedEmbeddings ? 1 : 2))
    }

    /// `x` bytes as an `Int`, at most 2⁶⁰.
    private static func bytes(_ x: Double) -> Int { x >= 0x1p60 ? 1 << 60 : Int(x) }

    /// Perplexity or zero-shot scoring of sequences of up to `sequenceLength` tokens.
    public static func evaluation(configuration c: ModelConfiguration, sequenceLength t: Int, activationBudget: Int,
                                  mappedModelBytes: Int = 0) -> InferenceMemoryEstimate {
        let t = Double(t), f = Double(MemoryLayout<Float>.size)
        let q = Double(c.headCount * c.headDimension), kv = Double(c.keyValueHeadCount * c.headDimension)
        let activations = bytes(max(Double(activationBudget), t * Double(c.hiddenSize) * f))
        let scratch = bytes((t * (2 * q + 2 * kv) + t * t + 2 * t * Double(c.intermediateSize)) * f)
        let logits = bytes(t * Double(c.vocabularySize) * f)
        let rotary = bytes(2 * t * Double(c.headDimension) * f)
        let parts = [("activations", activations), ("forward scratch", scratch), ("logits", logits)]
        return InferenceMemoryEstimate(model: model(c, mappedModelBytes: mappedModelBytes),
                                       blockWeights: bytes(Double(c.parametersPerBlock) * f),
                                       workingSet: activations + scratch + logits + rotary,
                                       dominantPart: parts.max { $0.1 < $1.1 }!)
    }

    /// Generation with a cache of `capacity` positions.
    public static func generation(configuration c: ModelConfiguration, capacity p: Int, weightBytesPerParameter: Int,
                                  mappedModelBytes: Int = 0) -> InferenceMemoryEstimate {
        let p = Double(p), f = Double(MemoryLayout<Float>.size)
        let cache = bytes(2 * Double(c.layerCount) * p * Double(c.keyValueHeadCount * c.headDimension) * f)
        let rotary = bytes(2 * p * Double(c.headDimension) * f)
        return InferenceMemoryEstimate(model: model(c, mappedModelBytes: mappedModelBytes),
                                       blockWeights: bytes(Double(c.layerCount * c.parametersPerBlock * weightBytesPerParameter)),
                                       workingSet: cache + rotary, dominantPart: ("key/value cache", cache))
    }
}
