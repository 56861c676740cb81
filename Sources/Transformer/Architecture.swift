/// The decoder families the tool loads. All are pre-norm LLaMA-style decoders (RMSNorm,
/// rotary attention with grouped KV heads, SwiGLU MLP); they differ in a few named details.
public enum Architecture: String, Sendable, Codable, CaseIterable {
    /// LLaMA 1/2/3, SmolLM, TinyLlama, Mistral: no biases; GGUF stores q/k rows permuted for
    /// interleaved RoPE.
    case llama
    /// Qwen2 / Qwen2.5: biases on q, k and v; rotate-halves RoPE in every format.
    case qwen2

    /// Parses a GGUF `general.architecture` or a `config.json` `model_type`.
    ///
    /// Mistral is the LLaMA architecture (its sliding window only matters beyond the window
    /// length, which calibration and evaluation windows do not reach).
    public static func parse(_ name: String, origin: String) throws -> Architecture {
        switch name {
        case "llama", "mistral": return .llama
        case "qwen2": return .qwen2
        default:
            throw ModelError.unsupportedArchitecture(
                name: name, origin: origin, supported: ["llama", "mistral", "qwen2"])
        }
    }

    /// Whether q, k and v projections carry biases.
    public var hasAttentionBias: Bool { self == .qwen2 }
}
