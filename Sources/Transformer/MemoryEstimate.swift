/// Peak memory of a block-by-block pruning run, estimated from the configuration before any
/// work starts (bytes, `Float` storage). With `N` calibration sequences of `T` tokens:
///
/// - calibration activations: the hidden states of every sequence, `N·T·D` floats (blocks run
///   in place), plus one sequence `T·D` for the observing pass;
/// - forward scratch for one sequence: q, k, v and attention output `T·(2·H·d + 2·K·d)`, one
///   head's attention scores `T²`, and the MLP's gate and up activations `2·T·F`;
/// - one block's weights in `Float`, twice (the block as decoded, which runs the calibration
///   windows, and its pruned copy, built one linear at a time);
/// - a score-mask pruner's (magnitude, Wanda) scores of one linear, the largest: `max(H·d, F)·D`
///   (`scores: false` for SparseGPT, whose working memory is its Hessian);
/// - SparseGPT's Hessians (and joint quantization's), one per distinct linear input: `D²`
///   (q/k/v), `(H·d)²` (o), `D²` (gate/up), `F²` (down); 0 for a pruner that needs none
///   (`hessians: false`: magnitude, Wanda);
/// - the token embedding in `Float`, `V·D`, when the run computes logits (`decodesHead`:
///   perplexity before and after) or the checkpoint cannot decode single rows (safetensors,
///   `embeddingRows: false`); otherwise the calibration tokens' rows are decoded from the GGUF
///   mapping as they are embedded; and the LM head, another `V·D`, when the checkpoint stores one
///   (untied; the Qwen2.5 GGUFs do) and the run computes logits (pruning alone never does);
/// - the memory-mapped model file, `mappedModel` bytes: its pages are clean and evictable, but a
///   run touches all of them, so they count in the resident set the tool reports;
/// - `runtime`, a fixed 48 MiB for the Swift runtime, OpenBLAS buffers and the tokenizer (the
///   resident set of `dlp prune` on SmolLM2-135M before its first block is about 40 MiB);
/// - export, after the calibration buffers are freed: one pruned block in `Float`, read back from
///   the weight store (GGUF copies the other tensors' stored bytes from the mapping), plus `V·D`
///   floats when safetensors are written (the embedding or head, decoded to be written as `Float`);
/// - with `--precision bf16` (`packedBF16`): one block's linears packed in bf16 (2 bytes per
///   weight, cached on the layer), the activations rounded to bf16 for one product (`T·max(D, H·d, F)`
///   values), and, when the run computes logits, the LM head packed in bf16, `V·D` values.
///
/// `total = runtime + mappedModel + embedding + head + packedBF16 + max(calibration working set, export)`.
/// Checked against the peak resident set (`/usr/bin/time -v`, `dlp prune --method wanda
/// --allocation uniform`):
///
/// | model, calibration | exports | estimate | measured |
/// |---|---|---:|---:|
/// | Qwen2.5-Coder-1.5B (untied head), 32 × 512 | GGUF | 3.64 GiB | 3.52 GiB |
/// | Qwen2.5-Coder-0.5B (untied head), 32 × 512 | GGUF | 1.81 GiB | 1.79 GiB |
/// | Qwen2.5-Coder-0.5B, 32 × 512 | GGUF + safetensors | 2.08 GiB | 2.04 GiB |
/// | SmolLM2-135M (tied), 4 × 512 | GGUF | 305 MiB | 302 MiB |
/// | SmolLM2-135M, 4 × 512 | GGUF + safetensors | 371 MiB | 405 MiB |
/// | SmolLM2-135M, 128 × 2048 | GGUF + safetensors | 922 MiB | 923 MiB (calibration phase) |
///
/// (Those rows were measured when the LM head was always decoded and the Hessians always
/// counted; the 7B/8B-shaped rows of the README's streaming table were measured with both as above.)
/// `dlp prune --evaluate` adds the evaluation's own activations (up to its 2 GiB budget), which
/// this does not count.
public struct MemoryEstimate: Sendable, Codable, Equatable {
    public var calibrationActivations: Int
    public var forwardScratch: Int
    public var blockWeights: Int
    /// The score matrix of the largest linear (magnitude, Wanda); 0 for SparseGPT.
    public var prunerScratch: Int
    public var hessians: Int
    public var embedding: Int
    /// The untied LM head in `Float`; 0 when it is the embedding or not decoded.
    public var head: Int
    public var mappedModel: Int
    public var runtime: Int
    public var export: Int
    /// bf16 copies (``ComputePrecision/bf16``): packed block linears, rounded activations and,
    /// with logits, the packed LM head; nil for f32 (and in manifests written before bf16).
    public var packedBF16: Int?

    /// The calibration phase's own buffers.
    public var calibrationWorkingSet: Int { calibrationActivations + forwardScratch + blockWeights + prunerScratch + hessians }

    /// Estimated peak resident memory.
    public var total: Int { runtime + mappedModel + embedding + head + (packedBF16 ?? 0) + max(calibrationWorkingSet, export) }

    /// The estimate for `samples` sequences of `sequenceLength` tokens; `mappedModelBytes` is the
    /// size of the checkpoint's files; `exportsSafetensors`, whether the run writes safetensors;
    /// `hessians`, whether the pruner accumulates Hessians; `scores`, whether it scores a whole
    /// linear at once (magnitude, Wanda); `decodesHead`, whether an untied LM head is decoded (the
    /// run computes perplexities); `embeddingRows`, whether the checkpoint decodes embedding rows
    /// one at a time (GGUF); `bf16`, whether the products run in bf16.
    public init(configuration c: ModelConfiguration, samples: Int, sequenceLength t: Int, mappedModelBytes: Int = 0,
                exportsSafetensors: Bool = true, hessians needsHessians: Bool = true, scores: Bool = false,
                decodesHead: Bool = true, embeddingRows: Bool = false, bf16: Bool = false) {
        let f = MemoryLayout<Float>.size
        let q = c.headCount * c.headDimension, kv = c.keyValueHeadCount * c.headDimension
        calibrationActivations = (samples + 1) * t * c.hiddenSize * f
        forwardScratch = (t * (2 * q + 2 * kv) + t * t + 2 * t * c.intermediateSize) * f
        blockWeights = 2 * c.parametersPerBlock * f
        prunerScratch = scores ? max(q, c.intermediateSize) * c.hiddenSize * f : 0
        hessians = needsHessians ? (2 * c.hiddenSize * c.hiddenSize + q * q + c.intermediateSize * c.intermediateSize) * f : 0
        embedding = decodesHead || !embeddingRows ? c.vocabularySize * c.hiddenSize * f : 0
        head = c.tiedEmbeddings || !decodesHead ? 0 : c.vocabularySize * c.hiddenSize * f
        mappedModel = mappedModelBytes
        runtime = 48 << 20
        export = (c.parametersPerBlock + (exportsSafetensors ? c.vocabularySize * c.hiddenSize : 0)) * f
        let half = MemoryLayout<UInt16>.size
        packedBF16 = bf16 ? (c.linearParametersPerBlock + t * max(c.hiddenSize, q, c.intermediateSize)
                             + (decodesHead ? c.vocabularySize * c.hiddenSize : 0)) * half : nil
    }
}
