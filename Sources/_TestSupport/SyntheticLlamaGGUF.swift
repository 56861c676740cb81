import Foundation
import Kernels
import TensorCore
import TensorIO

/// A LLaMA-layout GGUF of random weights: the small twin of the 7B/8B-shaped files that
/// `scripts/reference/synthetic_gguf.py` writes, with the same tensor names, types and metadata
/// (block linears and token embedding Q4_0, LM head Q6_K, norms F32, for the LLaMA-3 layout
/// grouped-query attention and `rope_freqs.weight`), at sizes a test runs in seconds. Row lengths
/// are multiples of Q4_0's 32 and the hidden size of Q6_K's 256.
///
/// Weights are uniform with standard deviation `σ = 0.02·g·(1 + 0.5·l/(L − 1))` in block `l` of
/// `L` (`g = 1` for q, k, gate, up; 0.6 for v, output, down), the script's depth profile, and are
/// quantized by ``TensorIO/quantize(_:as:)``; norms are `1 ± 0.05`. The vocabulary is byte-level
/// BPE: `<|endoftext|>` (control, id 0), the 256 byte tokens, the merges that spell a few common
/// English words after a space, then unused padding tokens up to `vocabularySize`.
public struct SyntheticLlamaGGUF: Sendable {
    public var layerCount: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var headCount: Int
    public var keyValueHeadCount: Int
    public var vocabularySize: Int
    public var ropeTheta: Float
    /// Llama 3.1's rotary scaling stored as llama.cpp stores it: `rope_freqs.weight`.
    public var llama3RopeScaling: Bool
    /// `tokenizer.ggml.pre`.
    public var preTokenizer: String
    public var seed: UInt64

    public init(layerCount: Int, hiddenSize: Int, intermediateSize: Int, headCount: Int, keyValueHeadCount: Int,
                vocabularySize: Int, ropeTheta: Float, llama3RopeScaling: Bool, preTokenizer: String, seed: UInt64 = 1) {
        self.layerCount = layerCount
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.headCount = headCount
        self.keyValueHeadCount = keyValueHeadCount
        self.vocabularySize = vocabularySize
        self.ropeTheta = ropeTheta
        self.llama3RopeScaling = llama3RopeScaling
        self.preTokenizer = preTokenizer
        self.seed = seed
    }

    /// LLaMA-2's layout: multi-head attention, θ = 10⁴, no rotary scaling.
    public static func llama2Style(blocks: Int = 4, hiddenSize: Int = 256, intermediateSize: Int = 704,
                                   vocabularySize: Int = 512) -> SyntheticLlamaGGUF {
        SyntheticLlamaGGUF(layerCount: blocks, hiddenSize: hiddenSize, intermediateSize: intermediateSize,
                           headCount: hiddenSize / 64, keyValueHeadCount: hiddenSize / 64, vocabularySize: vocabularySize,
                           ropeTheta: 10_000, llama3RopeScaling: false, preTokenizer: "gpt2")
    }

    /// LLaMA-3's layout: grouped-query attention (4 query heads per key/value head), θ = 5·10⁵,
    /// Llama 3.1's rotary scaling in `rope_freqs.weight`.
    public static func llama3Style(blocks: Int = 4, hiddenSize: Int = 256, intermediateSize: Int = 896,
                                   vocabularySize: Int = 640) -> SyntheticLlamaGGUF {
        SyntheticLlamaGGUF(layerCount: blocks, hiddenSize: hiddenSize, intermediateSize: intermediateSize,
                           headCount: hiddenSize / 64, keyValueHeadCount: max(1, hiddenSize / 256), vocabularySize: vocabularySize,
                           ropeTheta: 500_000, llama3RopeScaling: true, preTokenizer: "llama-bpe")
    }

    /// Llama 3.1's `rope_scaling`: factor 8, low- and high-frequency factors 1 and 4, original
    /// context 8192.
    public static let llama3Scaling = RotaryScaling.llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4,
                                                           originalMaxPositions: 8192)

    public var headDimension: Int { hiddenSize / headCount }

    /// `rope_freqs.weight` (`[d/2]`) as llama.cpp's converter computes it for Llama 3.1
    /// (`convert_hf_to_gguf.py`, `LlamaModel.generate_extra_tensors`), written out independently
    /// of ``Kernels/RotaryScaling``: divisor 1 for wavelengths under 8192/4, 8 over 8192/1, and
    /// `1 / ((1 − s)/8 + s)` with `s = (8192/λ − 1)/(4 − 1)` between.
    public func ropeFrequencyFactors() -> [Float] {
        let d = headDimension
        return stride(from: 0, to: d, by: 2).map { i in
            let frequency = 1 / pow(Double(ropeTheta), Double(i) / Double(d))
            let wavelength = 2 * Double.pi / frequency
            if wavelength < 8192.0 / 4 { return 1 }
            if wavelength > 8192.0 / 1 { return 8 }
            let smooth = (8192 / wavelength - 1) / (4 - 1)
            return Float(1 / ((1 - smooth) / 8 + smooth))
        }
    }

    /// Tokens, GGUF token types and merges of the byte-level vocabulary (see the type's summary).
    public static func vocabulary(size: Int) -> (tokens: [String], types: [Int32], merges: [String]) {
        var tokens = ["<|endoftext|>"] + byteTokens
        var types: [Int32] = [3] + [Int32](repeating: 1, count: 256)
        var known = Set(tokens), merges = [String]()
        for word in ["the", "and", "of", "to", "in", "is", "that", "for", "it", "with", "as", "on", "was", "model", "prune"] {
            var current = "Ġ"
            for character in word {
                let merged = current + String(character)
                if !known.contains(merged) {
                    merges.append("\(current) \(character)")
                    tokens.append(merged)
                    types.append(1)
                    known.insert(merged)
                }
                current = merged
            }
        }
        precondition(size >= tokens.count, "a vocabulary of \(size) cannot hold the \(tokens.count) base tokens")
        for i in 0..<(size - tokens.count) {
            tokens.append("<|reserved_special_token_\(i)|>")
            types.append(5)
        }
        return (tokens, types, merges)
    }

    /// GPT-2's byte-to-unicode alphabet: printable bytes as themselves, the others from U+0100 on.
    static let byteTokens: [String] = {
        var next: UInt32 = 256
        return (0..<256).map { byte in
            if (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte) {
                return String(Character(Unicode.Scalar(UInt8(byte))))
            }
            defer { next += 1 }
            return String(Character(Unicode.Scalar(next)!))
        }
    }()

    /// Uniform values of standard deviation `sigma` around `mean`, seeded by `stream`.
    static func values(count: Int, sigma: Float, mean: Float = 0, stream: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: stream)
        let half = sigma * Float(3).squareRoot()
        return (0..<count).map { _ in mean + generator.nextSignedUnit() * half }
    }

    /// Writes the file.
    public func write(to url: URL) throws {
        let d = hiddenSize, f = intermediateSize, kv = keyValueHeadCount * headDimension
        var writer = try GGUFWriter()
        let a = "llama"
        let vocabulary = Self.vocabulary(size: vocabularySize)
        let metadata: [(String, GGUFValue)] = [
            ("general.architecture", .string(a)),
            ("general.name", .string("synthetic \(llama3RopeScaling ? "LLaMA-3" : "LLaMA-2") layout, \(layerCount) blocks")),
            ("general.file_type", .uint32(2)),
            ("\(a).context_length", .uint32(llama3RopeScaling ? 131_072 : 4096)),
            ("\(a).embedding_length", .uint32(UInt32(d))),
            ("\(a).block_count", .uint32(UInt32(layerCount))),
            ("\(a).feed_forward_length", .uint32(UInt32(f))),
            ("\(a).attention.head_count", .uint32(UInt32(headCount))),
            ("\(a).attention.head_count_kv", .uint32(UInt32(keyValueHeadCount))),
            ("\(a).attention.layer_norm_rms_epsilon", .float32(1e-5)),
            ("\(a).rope.freq_base", .float32(ropeTheta)),
            ("\(a).rope.dimension_count", .uint32(UInt32(headDimension))),
            ("\(a).vocab_size", .uint32(UInt32(vocabularySize))),
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string(preTokenizer)),
            ("tokenizer.ggml.tokens", .array(.string, vocabulary.tokens.map { .string($0) })),
            ("tokenizer.ggml.token_type", .array(.int32, vocabulary.types.map { .int32($0) })),
            ("tokenizer.ggml.merges", .array(.string, vocabulary.merges.map { .string($0) })),
            ("tokenizer.ggml.bos_token_id", .uint32(0)),
            ("tokenizer.ggml.eos_token_id", .uint32(0)),
            ("tokenizer.ggml.add_bos_token", .bool(false)),
        ]
        for (key, value) in metadata { try writer.set(key, value) }

        var stream = seed << 20
        func add(_ name: String, _ shape: [Int], _ dtype: DType, sigma: Float, mean: Float = 0) throws {
            stream += 1
            let count = shape.reduce(1, *), seed = stream
            try writer.addTensor(name: name, shape: shape, as: dtype) {
                Self.values(count: count, sigma: sigma, mean: mean, stream: seed)
            }
        }
        if llama3RopeScaling {
            try writer.addTensor(name: "rope_freqs.weight", shape: [headDimension / 2], floats: ropeFrequencyFactors())
        }
        try add("token_embd.weight", [vocabularySize, d], .q4_0, sigma: 0.02)
        let linears: [(String, [Int], Float)] = [("attn_q", [d, d], 1), ("attn_k", [kv, d], 1), ("attn_v", [kv, d], 0.6),
                                                 ("attn_output", [d, d], 0.6), ("ffn_gate", [f, d], 1), ("ffn_up", [f, d], 1),
                                                 ("ffn_down", [d, f], 0.6)]
        for l in 0..<layerCount {
            let depth = 1 + 0.5 * Float(l) / Float(max(layerCount - 1, 1))
            try add("blk.\(l).attn_norm.weight", [d], .f32, sigma: 0.05 / Float(3).squareRoot(), mean: 1)
            for (role, shape, gain) in linears.prefix(4) { try add("blk.\(l).\(role).weight", shape, .q4_0, sigma: 0.02 * gain * depth) }
            try add("blk.\(l).ffn_norm.weight", [d], .f32, sigma: 0.05 / Float(3).squareRoot(), mean: 1)
            for (role, shape, gain) in linears.suffix(3) { try add("blk.\(l).\(role).weight", shape, .q4_0, sigma: 0.02 * gain * depth) }
        }
        try add("output_norm.weight", [d], .f32, sigma: 0.05 / Float(3).squareRoot(), mean: 1)
        try add("output.weight", [vocabularySize, d], .q6_K, sigma: 0.02)
        try writer.write(to: url)
    }
}
