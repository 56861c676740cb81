import Kernels
import TensorIO

extension ModelConfiguration {
    /// Reads a GGUF file's `<arch>.*` metadata (llama.cpp's key names). The vocabulary size comes
    /// from the token embedding's shape; embeddings are tied when there is no `output.weight`.
    /// A `rope_freqs.weight` tensor (LLaMA 3 GGUFs) is read as per-frequency divisors.
    public init(gguf metadata: some MetadataLookup, tensors: [TensorInfo], ropeFrequencies: () throws -> [Float],
                origin: String) throws {
        let name = try metadata.requireString("general.architecture", origin: origin)
        let arch = try Architecture.parse(name, origin: origin)
        let a = name
        let hidden = try metadata.requireInt("\(a).embedding_length", origin: origin)
        let heads = try metadata.requireInt("\(a).attention.head_count", origin: origin)
        guard let embedding = tensors.first(where: { $0.name == TensorRole.tokenEmbedding.ggufName() }) else {
            throw ModelError.missingTensor(name: TensorRole.tokenEmbedding.ggufName(), origin: origin)
        }
        var scaling = RotaryScaling.none
        if tensors.contains(where: { $0.name == "rope_freqs.weight" }) {
            scaling = .frequencyFactors(try ropeFrequencies().map(Double.init))
        } else if let type = metadata.string("\(a).rope.scaling.type"), type != "none" {
            guard type == "linear", let factor = metadata.float("\(a).rope.scaling.factor"), factor > 0 else {
                throw ModelError.invalidValue(key: "\(a).rope.scaling.type", value: type, origin: origin,
                                              reason: "only linear scaling (with a positive factor) and rope_freqs are supported")
            }
            scaling = .linear(factor: Double(factor))
        }
        self.init(
            architecture: arch,
            layerCount: try metadata.requireInt("\(a).block_count", origin: origin),
            hiddenSize: hidden,
            intermediateSize: try metadata.requireInt("\(a).feed_forward_length", origin: origin),
            headCount: heads,
            keyValueHeadCount: metadata.int("\(a).attention.head_count_kv") ?? heads,
            headDimension: metadata.int("\(a).attention.key_length") ?? (heads > 0 ? hidden / heads : 0),
            vocabularySize: embedding.shape.first ?? 0,
            rmsNormEpsilon: try metadata.requireFloat("\(a).attention.layer_norm_rms_epsilon", origin: origin),
            ropeTheta: metadata.float("\(a).rope.freq_base") ?? 10_000,
            ropeScaling: scaling,
            contextLength: metadata.int("\(a).context_length") ?? 0,
            tiedEmbeddings: !tensors.contains { $0.name == TensorRole.output.ggufName() })
        if let rotary = metadata.int("\(a).rope.dimension_count"), rotary != headDimension {
            throw ModelError.invalidValue(key: "\(a).rope.dimension_count", value: "\(rotary)", origin: origin,
                                          reason: "partial rotary embeddings (\(rotary) of \(headDimension) dimensions) are not supported")
        }
        try validate(origin: origin)
    }

    /// Reads a Hugging Face `config.json` (nested keys dotted: `rope_scaling.rope_type`).
    /// Defaults are those of transformers' `LlamaConfig` and `Qwen2Config`.
    public init(huggingFace config: some MetadataLookup, origin: String) throws {
        let type = try config.requireString("model_type", origin: origin)
        let arch = try Architecture.parse(type, origin: origin)
        let hidden = try config.requireInt("hidden_size", origin: origin)
        let heads = try config.requireInt("num_attention_heads", origin: origin)
        for flag in ["attention_bias", "mlp_bias"] where arch == .llama && config.bool(flag) == true {
            throw ModelError.invalidValue(key: flag, value: "true", origin: origin,
                                          reason: "LLaMA variants with biases are not supported")
        }
        var scaling = RotaryScaling.none
        if config.contains("rope_scaling.factor") {
            let kind = config.string("rope_scaling.rope_type") ?? config.string("rope_scaling.type") ?? "default"
            let factor = try config.requireFloat("rope_scaling.factor", origin: origin)
            switch kind {
            case "default": break
            case "linear": scaling = .linear(factor: Double(factor))
            case "llama3":
                scaling = .llama3(
                    factor: Double(factor),
                    lowFrequencyFactor: Double(try config.requireFloat("rope_scaling.low_freq_factor", origin: origin)),
                    highFrequencyFactor: Double(try config.requireFloat("rope_scaling.high_freq_factor", origin: origin)),
                    originalMaxPositions: try config.requireInt("rope_scaling.original_max_position_embeddings", origin: origin))
            default:
                throw ModelError.invalidValue(key: "rope_scaling.rope_type", value: kind, origin: origin,
                                              reason: "supported: default, linear, llama3")
            }
        }
        self.init(
            architecture: arch,
            layerCount: try config.requireInt("num_hidden_layers", origin: origin),
            hiddenSize: hidden,
            intermediateSize: try config.requireInt("intermediate_size", origin: origin),
            headCount: heads,
            keyValueHeadCount: config.int("num_key_value_heads") ?? heads,
            headDimension: config.int("head_dim") ?? (heads > 0 ? hidden / heads : 0),
            vocabularySize: try config.requireInt("vocab_size", origin: origin),
            rmsNormEpsilon: config.float("rms_norm_eps") ?? 1e-6,
            ropeTheta: config.float("rope_theta") ?? 10_000,
            ropeScaling: scaling,
            contextLength: config.int("max_position_embeddings") ?? 0,
            tiedEmbeddings: config.bool("tie_word_embeddings") ?? false)
        try validate(origin: origin)
    }
}
