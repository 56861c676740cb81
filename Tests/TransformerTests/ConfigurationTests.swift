import Foundation
import Testing
import TensorCore
import TensorIO
import Transformer

/// Metadata from a literal dictionary.
struct DictionaryMetadata: MetadataLookup {
    var values: [String: Any]
    func int(_ key: String) -> Int? { values[key] as? Int }
    func float(_ key: String) -> Float? { (values[key] as? Double).map(Float.init) ?? (values[key] as? Int).map(Float.init) }
    func string(_ key: String) -> String? { values[key] as? String }
    func bool(_ key: String) -> Bool? { values[key] as? Bool }
    func contains(_ key: String) -> Bool { values[key] != nil }
}

/// Tensor infos only; decoding is never asked for in these tests.
struct ListedTensors: TensorSource {
    var tensors: [TensorInfo]
    func floats(_ name: String) throws -> [Float] { [] }
}

/// SmolLM2-135M's GGUF metadata (the values ASSETS.md lists).
var smolMetadata: [String: Any] { [
    "general.architecture": "llama", "llama.block_count": 30, "llama.embedding_length": 576,
    "llama.feed_forward_length": 1536, "llama.attention.head_count": 9, "llama.attention.head_count_kv": 3,
    "llama.attention.layer_norm_rms_epsilon": 1e-5, "llama.rope.freq_base": 100_000.0, "llama.context_length": 8192,
    "llama.rope.dimension_count": 64,
] }

func ggufTensors(_ c: ModelConfiguration) -> [TensorInfo] {
    TensorRole.allCases.filter { $0.isPresent(in: c) }.flatMap { role in
        (role.isPerBlock ? Array(0..<c.layerCount) : [0]).map {
            TensorInfo(name: role.ggufName(block: $0), dtype: .f32, shape: role.shape(c))
        }
    }
}

@Suite struct ConfigurationTests {
    let embedding = [TensorInfo(name: "token_embd.weight", dtype: .q8_0, shape: [49152, 576])]

    @Test func smolLM2FromGGUFMetadata() throws {
        let c = try ModelConfiguration(gguf: DictionaryMetadata(values: smolMetadata), tensors: embedding,
                                       ropeFrequencies: { [] }, origin: "smol.gguf")
        #expect(c.architecture == .llama && c.layerCount == 30 && c.hiddenSize == 576)
        #expect(c.intermediateSize == 1536 && c.headCount == 9 && c.keyValueHeadCount == 3 && c.headDimension == 64)
        #expect(c.vocabularySize == 49152 && c.tiedEmbeddings && c.ropeScaling == .none)
        // 28,311,552 embedding + 576 final norm + 30 × 3,540,096 per block.
        #expect(c.parameterCount == 134_515_008)
    }

    @Test func missingKeyIsNamed() {
        var m = smolMetadata
        m["llama.feed_forward_length"] = nil
        #expect(throws: ModelError.missingKey(key: "llama.feed_forward_length", origin: "x.gguf")) {
            try ModelConfiguration(gguf: DictionaryMetadata(values: m), tensors: embedding, ropeFrequencies: { [] }, origin: "x.gguf")
        }
    }

    @Test func unknownArchitectureListsSupported() {
        var m = smolMetadata
        m["general.architecture"] = "gemma3"
        do {
            _ = try ModelConfiguration(gguf: DictionaryMetadata(values: m), tensors: embedding, ropeFrequencies: { [] }, origin: "g.gguf")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("gemma3") && "\(error)".contains("qwen2"))
        }
    }

    @Test func groupedHeadsMustDivide() {
        var m = smolMetadata
        m["llama.attention.head_count_kv"] = 4
        #expect(throws: ModelError.self) {
            try ModelConfiguration(gguf: DictionaryMetadata(values: m), tensors: embedding, ropeFrequencies: { [] }, origin: "x")
        }
    }

    @Test func huggingFaceLlama3Config() throws {
        let config: [String: Any] = [
            "model_type": "llama", "num_hidden_layers": 16, "hidden_size": 2048, "intermediate_size": 8192,
            "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256,
            "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": true,
            "max_position_embeddings": 131072, "rope_scaling.rope_type": "llama3", "rope_scaling.factor": 32.0,
            "rope_scaling.low_freq_factor": 1.0, "rope_scaling.high_freq_factor": 4.0,
            "rope_scaling.original_max_position_embeddings": 8192,
        ]
        let c = try ModelConfiguration(huggingFace: DictionaryMetadata(values: config), origin: "config.json")
        #expect(c.ropeScaling == .llama3(factor: 32, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositions: 8192))
        #expect(c.tiedEmbeddings && c.keyValueHeadCount == 8)
    }

    @Test func qwen2ConfigHasBiasesAndUntiedHead() throws {
        let config: [String: Any] = [
            "model_type": "qwen2", "num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 96,
            "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100, "rms_norm_eps": 1e-6,
            "rope_theta": 1000000.0,
        ]
        let c = try ModelConfiguration(huggingFace: DictionaryMetadata(values: config), origin: "config.json")
        #expect(c.architecture.hasAttentionBias && !c.tiedEmbeddings && c.headDimension == 16)
        let names = TensorRole.allCases.filter { $0.isPresent(in: c) }.map { $0.huggingFaceName(block: 1) }
        #expect(names.contains("model.layers.1.self_attn.k_proj.bias") && names.contains("lm_head.weight"))
    }
}

@Suite struct StrictLoadingTests {
    let config: ModelConfiguration

    init() throws {
        config = try ModelConfiguration(
            gguf: DictionaryMetadata(values: smolMetadata.merging(["llama.block_count": 2]) { $1 }),
            tensors: [TensorInfo(name: "token_embd.weight", dtype: .f32, shape: [49152, 576])],
            ropeFrequencies: { [] }, origin: "t")
    }

    @Test func completeCheckpointLoads() throws {
        _ = try Checkpoint(url: URL(fileURLWithPath: "/t.gguf"), format: .gguf, configuration: config,
                           source: ListedTensors(tensors: ggufTensors(config)))
    }

    @Test func missingTensorIsAnError() {
        let tensors = ggufTensors(config).filter { $0.name != "blk.1.ffn_up.weight" }
        #expect(throws: ModelError.missingTensor(name: "blk.1.ffn_up.weight", origin: "/t.gguf")) {
            try Checkpoint(url: URL(fileURLWithPath: "/t.gguf"), format: .gguf, configuration: config,
                           source: ListedTensors(tensors: tensors))
        }
    }

    @Test func wrongShapeIsAnError() {
        let tensors = ggufTensors(config).map {
            $0.name == "blk.0.attn_k.weight" ? TensorInfo(name: $0.name, dtype: .f32, shape: [576, 576]) : $0
        }
        #expect(throws: ModelError.shapeMismatch(name: "blk.0.attn_k.weight", expected: [192, 576], actual: [576, 576], origin: "/t.gguf")) {
            try Checkpoint(url: URL(fileURLWithPath: "/t.gguf"), format: .gguf, configuration: config,
                           source: ListedTensors(tensors: tensors))
        }
    }

    @Test func leftoverTensorIsAnError() {
        let tensors = ggufTensors(config) + [TensorInfo(name: "blk.2.attn_q.weight", dtype: .f32, shape: [576, 576])]
        #expect(throws: ModelError.unexpectedTensors(names: ["blk.2.attn_q.weight"], origin: "/t.gguf")) {
            try Checkpoint(url: URL(fileURLWithPath: "/t.gguf"), format: .gguf, configuration: config,
                           source: ListedTensors(tensors: tensors))
        }
    }

    @Test func ropeFrequenciesAreAllowed() throws {
        let tensors = ggufTensors(config) + [TensorInfo(name: "rope_freqs.weight", dtype: .f32, shape: [32])]
        _ = try Checkpoint(url: URL(fileURLWithPath: "/t.gguf"), format: .gguf, configuration: config,
                           source: ListedTensors(tensors: tensors))
    }

    @Test func ggufLlamaIsInterleavedQwenIsNot() throws {
        let c = try Checkpoint(url: URL(fileURLWithPath: "/t.gguf"), format: .gguf, configuration: config,
                               source: ListedTensors(tensors: ggufTensors(config)))
        #expect(c.rotaryConvention == .interleaved)
    }
}

@Suite struct QKRowPermutationTests {
    @Test func roundTripAndPairPlacement() {
        let heads = 3, d = 8, columns = 5
        let hf = (0..<(heads * d * columns)).map(Float.init)
        let gguf = QKRowPermutation.toGGUF(hf, heads: heads, columns: columns)
        #expect(QKRowPermutation.toHuggingFace(gguf, heads: heads, columns: columns) == hf)
        // In head 1, GGUF rows 2i and 2i+1 are HF rows i and i + d/2.
        for i in 0..<(d / 2) {
            let g0 = Array(gguf[((d + 2 * i) * columns)..<((d + 2 * i + 1) * columns)])
            let g1 = Array(gguf[((d + 2 * i + 1) * columns)..<((d + 2 * i + 2) * columns)])
            #expect(g0 == Array(hf[((d + i) * columns)..<((d + i + 1) * columns)]))
            #expect(g1 == Array(hf[((d + i + d / 2) * columns)..<((d + i + d / 2 + 1) * columns)]))
        }
    }
}

@Suite struct MemoryEstimateTests {
    /// Qwen2.5-1.5B's shapes, with the LM head stored separately or tied to the embedding.
    func qwen(tied: Bool) -> ModelConfiguration {
        ModelConfiguration(architecture: .qwen2, layerCount: 28, hiddenSize: 1536, intermediateSize: 8960,
                           headCount: 12, keyValueHeadCount: 2, headDimension: 128, vocabularySize: 151_936,
                           rmsNormEpsilon: 1e-6, ropeTheta: 1e6, contextLength: 32768, tiedEmbeddings: tied)
    }

    @Test func untiedHeadIsCountedOnce() {
        let tied = MemoryEstimate(configuration: qwen(tied: true), samples: 32, sequenceLength: 512, mappedModelBytes: 1 << 30)
        let untied = MemoryEstimate(configuration: qwen(tied: false), samples: 32, sequenceLength: 512, mappedModelBytes: 1 << 30)
        let vd = 151_936 * 1536 * MemoryLayout<Float>.size
        #expect(tied.head == 0 && tied.embedding == vd)
        #expect(untied.head == vd)
        #expect(untied.total - tied.total == vd)
        // Writing only GGUF copies the embedding and head as stored; safetensors decodes them.
        let ggufOnly = MemoryEstimate(configuration: qwen(tied: false), samples: 32, sequenceLength: 512, mappedModelBytes: 1 << 30,
                                      exportsSafetensors: false)
        #expect(untied.export - ggufOnly.export == vd)
        // The total is the sum of its parts, with calibration and export not resident together.
        #expect(untied.total == untied.runtime + untied.mappedModel + untied.embedding + untied.head
                + max(untied.calibrationActivations + untied.forwardScratch + untied.blockWeights + untied.prunerScratch
                      + untied.hessians, untied.export))
    }

    /// What the run needs decides the parts: Hessians only for SparseGPT (one `in × in` matrix
    /// per distinct input: D², D², (H·d)², F²), the scores of the largest linear only for a
    /// score-mask pruner, the untied LM head only when logits are computed (`--evaluate`).
    @Test func partsFollowThePruner() {
        let c = qwen(tied: false), f = MemoryLayout<Float>.size
        func estimate(hessians: Bool, scores: Bool, decodesHead: Bool) -> MemoryEstimate {
            MemoryEstimate(configuration: c, samples: 8, sequenceLength: 256, exportsSafetensors: false, hessians: hessians,
                           scores: scores, decodesHead: decodesHead)
        }
        let sparseGPT = estimate(hessians: true, scores: false, decodesHead: false)
        let wanda = estimate(hessians: false, scores: true, decodesHead: false)
        let evaluating = estimate(hessians: false, scores: true, decodesHead: true)
        #expect(sparseGPT.hessians == (2 * 1536 * 1536 + 1536 * 1536 + 8960 * 8960) * f && sparseGPT.prunerScratch == 0)
        #expect(wanda.hessians == 0 && wanda.prunerScratch == 8960 * 1536 * f)
        #expect(sparseGPT.head == 0 && wanda.head == 0 && evaluating.head == 151_936 * 1536 * f)
        #expect(evaluating.total - wanda.total == evaluating.head)
        #expect(sparseGPT.total - wanda.total == sparseGPT.hessians - wanda.prunerScratch)
    }

    /// A GGUF run without logits decodes the embedding rows of its tokens from the mapping: no
    /// `V·D` table; with logits (or from safetensors) the table is decoded whole.
    @Test func embeddingRowsDecodedPerTokenAreNotCounted() {
        let c = qwen(tied: false), vd = 151_936 * 1536 * MemoryLayout<Float>.size
        let rows = MemoryEstimate(configuration: c, samples: 8, sequenceLength: 256, decodesHead: false, embeddingRows: true)
        let table = MemoryEstimate(configuration: c, samples: 8, sequenceLength: 256, decodesHead: false, embeddingRows: false)
        let evaluating = MemoryEstimate(configuration: c, samples: 8, sequenceLength: 256, decodesHead: true, embeddingRows: true)
        #expect(rows.embedding == 0 && table.embedding == vd && evaluating.embedding == vd && evaluating.head == vd)
        #expect(table.total - rows.total == vd && evaluating.total - rows.total == 2 * vd)
    }

    /// bf16 adds its packed copies (2 bytes a value): one block's linears, one product's rounded
    /// activations (`T·max(D, H·d, F)`) and, with logits, the packed head; f32 adds nothing.
    @Test func bf16CountsItsPackedCopies() {
        let c = qwen(tied: false), half = MemoryLayout<UInt16>.size
        for decodesHead in [false, true] {
            let f32 = MemoryEstimate(configuration: c, samples: 8, sequenceLength: 256, decodesHead: decodesHead)
            let bf16 = MemoryEstimate(configuration: c, samples: 8, sequenceLength: 256, decodesHead: decodesHead, bf16: true)
            let expected = (c.linearParametersPerBlock + 256 * 8960 + (decodesHead ? 151_936 * 1536 : 0)) * half
            #expect(f32.packedBF16 == nil && bf16.packedBF16 == expected)
            #expect(bf16.total - f32.total == expected)
        }
    }
}
