/// The one table of tensor names: every tensor a decoder uses, with its Hugging Face and GGUF
/// names and the shape the configuration implies (row-major, outermost first).
public enum TensorRole: String, Sendable, CaseIterable, Codable {
    case tokenEmbedding, outputNorm, output
    case attentionNorm, query, key, value, attentionOutput
    case queryBias, keyBias, valueBias
    case feedForwardNorm, gate, up, down

    /// The seven linear layers of a block, in the order reports list them.
    public static let linears: [TensorRole] = [.query, .key, .value, .attentionOutput, .gate, .up, .down]

    /// Whether the role exists once per block (otherwise once per model).
    public var isPerBlock: Bool {
        switch self {
        case .tokenEmbedding, .outputNorm, .output: return false
        default: return true
        }
    }

    /// Hugging Face name; `block` is ignored for model-level roles.
    public func huggingFaceName(block: Int = 0) -> String {
        let p = "model.layers.\(block)."
        switch self {
        case .tokenEmbedding: return "model.embed_tokens.weight"
        case .outputNorm: return "model.norm.weight"
        case .output: return "lm_head.weight"
        case .attentionNorm: return p + "input_layernorm.weight"
        case .query: return p + "self_attn.q_proj.weight"
        case .key: return p + "self_attn.k_proj.weight"
        case .value: return p + "self_attn.v_proj.weight"
        case .attentionOutput: return p + "self_attn.o_proj.weight"
        case .queryBias: return p + "self_attn.q_proj.bias"
        case .keyBias: return p + "self_attn.k_proj.bias"
        case .valueBias: return p + "self_attn.v_proj.bias"
        case .feedForwardNorm: return p + "post_attention_layernorm.weight"
        case .gate: return p + "mlp.gate_proj.weight"
        case .up: return p + "mlp.up_proj.weight"
        case .down: return p + "mlp.down_proj.weight"
        }
    }

    /// GGUF (llama.cpp) name; `block` is ignored for model-level roles.
    public func ggufName(block: Int = 0) -> String {
        let p = "blk.\(block)."
        switch self {
        case .tokenEmbedding: return "token_embd.weight"
        case .outputNorm: return "output_norm.weight"
        case .output: return "output.weight"
        case .attentionNorm: return p + "attn_norm.weight"
        case .query: return p + "attn_q.weight"
        case .key: return p + "attn_k.weight"
        case .value: return p + "attn_v.weight"
        case .attentionOutput: return p + "attn_output.weight"
        case .queryBias: return p + "attn_q.bias"
        case .keyBias: return p + "attn_k.bias"
        case .valueBias: return p + "attn_v.bias"
        case .feedForwardNorm: return p + "ffn_norm.weight"
        case .gate: return p + "ffn_gate.weight"
        case .up: return p + "ffn_up.weight"
        case .down: return p + "ffn_down.weight"
        }
    }

    /// Name in the given format.
    public func name(in format: CheckpointFormat, block: Int = 0) -> String {
        format == .gguf ? ggufName(block: block) : huggingFaceName(block: block)
    }

    /// Row-major shape implied by `config`.
    public func shape(_ c: ModelConfiguration) -> [Int] {
        let q = c.headCount * c.headDimension, kv = c.keyValueHeadCount * c.headDimension
        switch self {
        case .tokenEmbedding, .output: return [c.vocabularySize, c.hiddenSize]
        case .outputNorm, .attentionNorm, .feedForwardNorm: return [c.hiddenSize]
        case .query: return [q, c.hiddenSize]
        case .key, .value: return [kv, c.hiddenSize]
        case .attentionOutput: return [c.hiddenSize, q]
        case .queryBias: return [q]
        case .keyBias, .valueBias: return [kv]
        case .gate, .up: return [c.intermediateSize, c.hiddenSize]
        case .down: return [c.hiddenSize, c.intermediateSize]
        }
    }

    /// Whether a model of `config` has this tensor.
    public func isPresent(in c: ModelConfiguration) -> Bool {
        switch self {
        case .output: return !c.tiedEmbeddings
        case .queryBias, .keyBias, .valueBias: return c.architecture.hasAttentionBias
        default: return true
        }
    }
}

/// The file format a checkpoint came from; it decides tensor names and the q/k row order.
public enum CheckpointFormat: String, Sendable, Codable {
    case gguf
    case safetensors
}
