import Foundation
import Kernels
import TensorCore
import TensorIO

/// Writes a model as a Hugging Face directory (`config.json` + safetensors) that transformers
/// loads: Hugging Face tensor names, q/k rows in the rotate-halves order (GGUF llama rows are
/// un-permuted, ``QKRowPermutation``), the LM head omitted when tied.
public enum HuggingFaceExport {
    /// `config.json` for `configuration` (transformers' `LlamaConfig` / `Qwen2Config` keys).
    public static func config(_ c: ModelConfiguration, dtype: DType) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("architectures", .array([.string(c.architecture == .qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM")])),
            ("model_type", .string(c.architecture.rawValue)),
            ("hidden_size", .integer(c.hiddenSize)),
            ("intermediate_size", .integer(c.intermediateSize)),
            ("num_hidden_layers", .integer(c.layerCount)),
            ("num_attention_heads", .integer(c.headCount)),
            ("num_key_value_heads", .integer(c.keyValueHeadCount)),
            ("head_dim", .integer(c.headDimension)),
            ("vocab_size", .integer(c.vocabularySize)),
            ("rms_norm_eps", .number(Double(c.rmsNormEpsilon))),
            ("rope_theta", .number(Double(c.ropeTheta))),
            ("max_position_embeddings", .integer(max(c.contextLength, 1))),
            ("tie_word_embeddings", .bool(c.tiedEmbeddings)),
            ("hidden_act", .string("silu")),
            ("torch_dtype", .string(torchDType(dtype))),
        ]
        if c.architecture == .llama {
            members.append(("attention_bias", .bool(false)))
            members.append(("mlp_bias", .bool(false)))
        }
        switch c.ropeScaling {
        case .none, .frequencyFactors:
            // Frequency factors (LLaMA 3 GGUFs) came from llama3 scaling whose parameters GGUF
            // does not keep; the export is then only exact up to that scaling.
            break
        case .linear(let factor):
            members.append(("rope_scaling", .object(JSONObject([("rope_type", .string("linear")), ("factor", .number(factor))]))))
        case let .llama3(factor, low, high, original):
            members.append(("rope_scaling", .object(JSONObject([
                ("rope_type", .string("llama3")), ("factor", .number(factor)), ("low_freq_factor", .number(low)),
                ("high_freq_factor", .number(high)), ("original_max_position_embeddings", .integer(original)),
            ]))))
        }
        return .object(JSONObject(members))
    }

    /// transformers' `torch_dtype` spelling of F32, F16 or BF16.
    static func torchDType(_ dtype: DType) -> String {
        dtype == .f32 ? "float32" : dtype == .f16 ? "float16" : "bfloat16"
    }

    /// Writes `checkpoint` to `directory` in `dtype` (F32, F16 or BF16). `blockCount` limits the
    /// export to the first blocks (tests); `weights(block)` supplies replacement block weights
    /// (pruned ones) in the checkpoint's q/k row order, else the checkpoint's own are used;
    /// `outputNorm` replaces the final norm gain (a fine-tuned one).
    @discardableResult
    public static func write(_ checkpoint: Checkpoint, to directory: URL, dtype: DType = .f32, blockCount: Int? = nil,
                             maxShardBytes: Int = 2 << 30, weights: ((Int) throws -> BlockWeights)? = nil,
                             outputNorm: [Float]? = nil) throws -> [String] {
        let tensors = HuggingFaceTensors(checkpoint, blockCount: blockCount, weights: weights, outputNorm: outputNorm)
        let plan = tensors.entries.map { TensorInfo(name: $0.name, dtype: dtype, shape: $0.shape) }
        return try SafetensorsWriter.writeCheckpoint(
            plan, metadata: ["format": "pt"], to: directory, maxShardBytes: maxShardBytes,
            config: config(tensors.configuration, dtype: dtype)
        ) { info in
            guard let entry = tensors.entry(info.name) else { return [] }
            return try tensors.values(entry)
        }
    }
}

extension BlockWeights {
    /// The values of one per-block tensor.
    public func tensor(_ role: TensorRole) -> [Float] {
        switch role {
        case .attentionNorm: return attentionNorm
        case .feedForwardNorm: return feedForwardNorm
        case .queryBias: return queryBias ?? []
        case .keyBias: return keyBias ?? []
        case .valueBias: return valueBias ?? []
        case .query, .key, .value, .attentionOutput, .gate, .up, .down: return self[linear: role].storage
        case .tokenEmbedding, .outputNorm, .output: preconditionFailure("\(role) is not a block tensor")
        }
    }
}
