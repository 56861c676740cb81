/// Typed access to GGUF metadata, as much as a tokenizer needs. The GGUF reader conforms to this;
/// each getter returns `nil` for an absent key and throws when the key holds another type.
public protocol TokenizerMetadataSource {
    /// File name or other description used in error messages.
    var sourceDescription: String { get }
    func string(_ key: String) throws -> String?
    func stringArray(_ key: String) throws -> [String]?
    func floatArray(_ key: String) throws -> [Float]?
    func intArray(_ key: String) throws -> [Int]?
    func int(_ key: String) throws -> Int?
    func bool(_ key: String) throws -> Bool?
}

extension TokenizerDefinition {
    /// GGUF metadata keys of the tokenizer.
    public enum GGUFKey {
        public static let model = "tokenizer.ggml.model"
        public static let pre = "tokenizer.ggml.pre"
        public static let tokens = "tokenizer.ggml.tokens"
        public static let tokenType = "tokenizer.ggml.token_type"
        public static let scores = "tokenizer.ggml.scores"
        public static let merges = "tokenizer.ggml.merges"
        public static let bosID = "tokenizer.ggml.bos_token_id"
        public static let eosID = "tokenizer.ggml.eos_token_id"
        public static let unknownID = "tokenizer.ggml.unknown_token_id"
        public static let paddingID = "tokenizer.ggml.padding_token_id"
        public static let addBOS = "tokenizer.ggml.add_bos_token"
        public static let addEOS = "tokenizer.ggml.add_eos_token"
        public static let addSpacePrefix = "tokenizer.ggml.add_space_prefix"
    }

    /// Reads a tokenizer from GGUF metadata (`tokenizer.ggml.*`).
    ///
    /// `gpt2` requires `tokens`, `merges` and a supported `pre`; `llama` requires `tokens` and
    /// `scores`. Missing `token_type` means all normal. Defaults as llama.cpp: `add_bos_token`
    /// true for `llama` and false for `gpt2`; `add_eos_token` false; `add_space_prefix` true for
    /// `llama`. Errors from the source are passed through; others are `TokenizerError`.
    public init(metadata m: some TokenizerMetadataSource) throws {
        let source = m.sourceDescription
        func required<T>(_ key: String, _ value: T?) throws(TokenizerError) -> T {
            guard let value else { throw .missingKey(source: source, key: key) }
            return value
        }
        func id(_ key: String) throws -> Int32? {
            guard let value = try m.int(key) else { return nil }
            guard let narrow = Int32(exactly: value) else {
                throw TokenizerError.invalidValue(source: source, key: key, detail: "id \(value) out of range")
            }
            return narrow
        }
        let model = try Model(ggufName: try required(GGUFKey.model, try m.string(GGUFKey.model)), source: source)
        let tokens = try required(GGUFKey.tokens, try m.stringArray(GGUFKey.tokens))
        let rawTypes = try m.intArray(GGUFKey.tokenType) ?? Array(repeating: 1, count: tokens.count)
        var types: [TokenType] = []
        types.reserveCapacity(rawTypes.count)
        for (index, raw) in rawTypes.enumerated() {
            guard let value = Int32(exactly: raw), let type = TokenType(rawValue: value) else {
                throw TokenizerError.invalidValue(source: source, key: GGUFKey.tokenType,
                                                  detail: "token \(index) has type \(raw); expected 1...6")
            }
            types.append(type)
        }
        var pre: PreTokenizer? = nil
        var merges: [String] = []
        var scores: [Float] = []
        switch model {
        case .byteLevelBPE:
            pre = try PreTokenizer(ggufName: try m.string(GGUFKey.pre) ?? "default", source: source)
            merges = try required(GGUFKey.merges, try m.stringArray(GGUFKey.merges))
        case .sentencePieceBPE:
            scores = try required(GGUFKey.scores, try m.floatArray(GGUFKey.scores))
        }
        try self.init(model: model, preTokenizer: pre, tokens: tokens, tokenTypes: types, scores: scores,
                      merges: merges, bosID: try id(GGUFKey.bosID), eosID: try id(GGUFKey.eosID),
                      unknownID: try id(GGUFKey.unknownID), paddingID: try id(GGUFKey.paddingID),
                      addBOS: try m.bool(GGUFKey.addBOS) ?? (model == .sentencePieceBPE),
                      addEOS: try m.bool(GGUFKey.addEOS) ?? false,
                      addSpacePrefix: model == .sentencePieceBPE && (try m.bool(GGUFKey.addSpacePrefix) ?? true),
                      source: source)
    }
}
