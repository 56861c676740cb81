/// How byte-level BPE text is split into pre-tokens before merging (GGUF `tokenizer.ggml.pre`).
///
/// Each case is a hand-written scanner equivalent to a regular expression (see `PreTokenizer+Scan.swift`):
/// - `gpt2`: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// - `smollm`: every `\p{N}` character is its own pre-token first, then `gpt2` on the rest.
/// - `qwen2`: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// - `llamaBPE` (LLaMA-3): as `qwen2` with `\p{N}{1,3}`.
///
/// `\s` is the Unicode `White_Space` property, `\p{L}` / `\p{N}` the general categories L* / N*.
public enum PreTokenizer: String, Sendable, Equatable, CaseIterable {
    case gpt2 = "gpt2"
    case smollm = "smollm"
    case qwen2 = "qwen2"
    case llamaBPE = "llama-bpe"

    /// Parses a GGUF `tokenizer.ggml.pre` value; an unknown name throws with the supported list.
    public init(ggufName: String, source: String) throws(TokenizerError) {
        guard let value = PreTokenizer(rawValue: ggufName) else {
            throw .unsupportedPreTokenizer(source: source, found: ggufName, supported: PreTokenizer.allCases.map(\.rawValue))
        }
        self = value
    }
}
