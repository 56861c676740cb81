/// Text ⇄ token ids.
///
/// `encode` matches control and user-defined tokens verbatim anywhere in the text (as Hugging Face
/// does for added tokens), so `"<|im_start|>"` in the input becomes its id. `decode` renders every
/// id, control tokens included, so `decode(encode(x, addSpecial: false)) == x` for any `x` the
/// vocabulary covers.
public protocol Tokenizer: Sendable {
    /// The definition this tokenizer was built from.
    var definition: TokenizerDefinition { get }
    /// Token ids of `text`; with `addSpecial`, BOS/EOS as the definition's `addBOS`/`addEOS` say.
    func encode(_ text: String, addSpecial: Bool) -> [Int32]
    /// The text of `ids` (invalid UTF-8 from partial byte sequences becomes U+FFFD).
    func decode(_ ids: [Int32]) -> String
}

extension Tokenizer {
    /// Number of tokens in the vocabulary.
    public var vocabularySize: Int { definition.tokens.count }

    /// Adds BOS/EOS around `body` as the definition asks.
    func withSpecial(_ body: [Int32], addSpecial: Bool) -> [Int32] {
        guard addSpecial else { return body }
        var out: [Int32] = []
        out.reserveCapacity(body.count + 2)
        if definition.addBOS, let bos = definition.bosID { out.append(bos) }
        out.append(contentsOf: body)
        if definition.addEOS, let eos = definition.eosID { out.append(eos) }
        return out
    }
}
