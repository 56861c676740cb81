/// Everything needed to build a tokenizer, independent of the file it came from.
///
/// Built from GGUF metadata (`init(metadata:)`) or a Hugging Face `tokenizer.json`
/// (`init(tokenizerJSON:)`); turned into a working tokenizer by `makeTokenizer()`.
/// Arrays are indexed by token id: `tokens.count == tokenTypes.count`, and `scores` is empty or
/// the same length.
public struct TokenizerDefinition: Sendable, Equatable {
    /// The tokenizer algorithm.
    public enum Model: String, Sendable, Equatable, CaseIterable {
        /// GPT-2 style byte-level BPE with ranked merges (GGUF `gpt2`).
        case byteLevelBPE = "gpt2"
        /// SentencePiece-style BPE: merges by token score, `▁` for spaces, `<0xNN>` byte fallback (GGUF `llama`).
        case sentencePieceBPE = "llama"

        /// Parses the GGUF `tokenizer.ggml.model` value.
        public init(ggufName: String, source: String) throws(TokenizerError) {
            guard let model = Model(rawValue: ggufName) else {
                throw .unsupportedModel(source: source, found: ggufName, supported: Model.allCases.map(\.rawValue))
            }
            self = model
        }
    }

    /// Token kinds with GGUF's numbering (`tokenizer.ggml.token_type`).
    public enum TokenType: Int32, Sendable, Equatable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6

        /// Control and user-defined tokens are matched as whole strings before pre-tokenization.
        public var isMatchedVerbatim: Bool { self == .control || self == .userDefined }
    }

    /// Algorithm.
    public var model: Model
    /// Pre-tokenizer of a byte-level BPE; `nil` for SentencePiece-style BPE, which does not split.
    public var preTokenizer: PreTokenizer?
    /// Token strings by id (byte-level tokens in GPT-2's byte-to-unicode alphabet; SentencePiece with `▁`).
    public var tokens: [String]
    /// Token kinds by id.
    public var tokenTypes: [TokenType]
    /// Token scores by id (SentencePiece-style: higher merges first); empty for byte-level BPE.
    public var scores: [Float]
    /// Byte-level merges in rank order, each `"left right"`; empty for SentencePiece-style BPE.
    public var merges: [String]
    /// Special token ids, when defined.
    public var bosID: Int32?, eosID: Int32?, unknownID: Int32?, paddingID: Int32?
    /// Whether `encode(_:addSpecial: true)` prepends BOS / appends EOS.
    public var addBOS: Bool, addEOS: Bool
    /// SentencePiece-style only: prepend `▁` to text at the start and after each special token.
    public var addSpacePrefix: Bool
    /// Where the definition came from, for error messages.
    public var source: String

    public init(model: Model, preTokenizer: PreTokenizer?, tokens: [String], tokenTypes: [TokenType],
                scores: [Float] = [], merges: [String] = [], bosID: Int32? = nil, eosID: Int32? = nil,
                unknownID: Int32? = nil, paddingID: Int32? = nil, addBOS: Bool = false, addEOS: Bool = false,
                addSpacePrefix: Bool = false, source: String = "tokenizer definition") throws(TokenizerError) {
        self.model = model
        self.preTokenizer = preTokenizer
        self.tokens = tokens
        self.tokenTypes = tokenTypes
        self.scores = scores
        self.merges = merges
        self.bosID = bosID
        self.eosID = eosID
        self.unknownID = unknownID
        self.paddingID = paddingID
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.addSpacePrefix = addSpacePrefix
        self.source = source
        try validate()
    }

    /// Checks array lengths, id ranges and the model/pre-tokenizer pairing.
    func validate() throws(TokenizerError) {
        guard !tokens.isEmpty else { throw .invalidValue(source: source, key: "tokens", detail: "vocabulary is empty") }
        guard tokenTypes.count == tokens.count else {
            throw .invalidValue(source: source, key: "token_type",
                                detail: "\(tokenTypes.count) types for \(tokens.count) tokens")
        }
        for (key, id) in [("bos_token_id", bosID), ("eos_token_id", eosID), ("unknown_token_id", unknownID),
                          ("padding_token_id", paddingID)] {
            if let id, id < 0 || Int(id) >= tokens.count {
                throw .invalidValue(source: source, key: key, detail: "id \(id) outside the vocabulary of \(tokens.count)")
            }
        }
        switch model {
        case .byteLevelBPE:
            guard preTokenizer != nil else {
                throw .missingKey(source: source, key: "pre-tokenizer (tokenizer.ggml.pre)")
            }
        case .sentencePieceBPE:
            guard scores.count == tokens.count else {
                throw .invalidValue(source: source, key: "scores", detail: "\(scores.count) scores for \(tokens.count) tokens")
            }
        }
        if addBOS && bosID == nil { throw .missingKey(source: source, key: "bos_token_id (add_bos_token is set)") }
        if addEOS && eosID == nil { throw .missingKey(source: source, key: "eos_token_id (add_eos_token is set)") }
    }

    /// Builds the tokenizer this definition describes.
    public func makeTokenizer() throws(TokenizerError) -> any Tokenizer {
        switch model {
        case .byteLevelBPE: return try ByteLevelBPETokenizer(self)
        case .sentencePieceBPE: return SentencePieceBPETokenizer(self)
        }
    }

    /// Splits a merge `"left right"` at its first space byte (not by Character: a space followed
    /// by a combining mark is one Character).
    static func splitMerge(_ merge: String) -> (left: String, right: String)? {
        let utf8 = merge.utf8
        guard let space = utf8.firstIndex(of: 0x20) else { return nil }
        guard let left = String(utf8[utf8.startIndex..<space]),
              let right = String(utf8[utf8.index(after: space)...]) else { return nil }
        return (left, right)
    }
}
