import Foundation
import TensorIO

extension TokenizerDefinition {
    /// The files `writeHuggingFaceFiles(to:)` writes, in writing order.
    public static let huggingFaceFileNames = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]

    /// Writes `tokenizer.json`, `tokenizer_config.json` and `special_tokens_map.json` into
    /// `directory` (which must exist), each atomically, so that `init(tokenizerJSON:)` and
    /// transformers' `AutoTokenizer.from_pretrained(directory)` both tokenize as this definition does.
    ///
    /// Throws `TokenizerError` when the vocabulary cannot be expressed as a `tokenizer.json` (see
    /// `tokenizerJSON()`), or the file system's error naming the path. `chatTemplate`, the model's
    /// Jinja chat template when it carries one, goes into `tokenizer_config.json`.
    public func writeHuggingFaceFiles(to directory: URL, chatTemplate: String? = nil) throws {
        let files = [try tokenizerJSON(), tokenizerConfigJSON(chatTemplate: chatTemplate), specialTokensMapJSON()]
        for (name, data) in zip(Self.huggingFaceFileNames, files) {
            try data.write(to: directory.appendingPathComponent(name), options: .atomic)
        }
    }

    /// This definition as a Hugging Face `tokenizer.json` (compact UTF-8 JSON, keys in the order
    /// `tokenizers` saves them; the same definition always gives the same bytes).
    ///
    /// The file is a `BPE` model with every token in `model.vocab` under its id, and the control
    /// (`special: true`) and user-defined (`special: false`) tokens also listed in `added_tokens`
    /// with `normalized: false`, so they are matched verbatim before any splitting.
    ///
    /// - Byte-level BPE: merges as `[left, right]` pairs in rank order, `ByteLevel` decoder, and the
    ///   pre-tokenizer of `preTokenizer`: `gpt2` → `ByteLevel(use_regex: true)`; `smollm` →
    ///   `Digits(individual_digits: true)`, `ByteLevel(use_regex: true)`; `qwen2` / `llama-bpe` →
    ///   `Split(Qwen2 / LLaMA-3 regex, Isolated)`, `ByteLevel(use_regex: false)`. `ignore_merges`
    ///   is false, as this module's tokenizer merges every pre-token (the upstream LLaMA-3 file sets
    ///   it true; the two differ only on a vocabulary token that its merges do not rebuild).
    /// - SentencePiece-style BPE: `byte_fallback: true` with the merges derived from the scores as
    ///   `scripts/reference/tokenizer_fixture.py` does (`sentencePieceMerges()`), normalizer
    ///   `Replace(" ", "▁")` preceded by `Prepend("▁")` when `addSpacePrefix` is set, no
    ///   pre-tokenizer, and the decoder `Replace("▁", " ")`, `ByteFallback`, `Fuse` (then
    ///   `Strip(1 leading space)` with the prefix).
    ///
    /// BOS/EOS added by `encode(_:addSpecial: true)` become a `TemplateProcessing` post-processor
    /// (none when neither is added). `bosID`/`eosID`/`paddingID` that are not added go to
    /// `tokenizer_config.json` only: read back by `init(tokenizerJSON:)`, such a file gives `nil`
    /// for them and tokenizes identically.
    ///
    /// Vocabulary keys are written byte for byte, so canonically equivalent tokens (Gemma 3 has
    /// some) stay distinct, as Hugging Face `tokenizers` reads them; `init(tokenizerJSON:)` reads
    /// the vocabulary into a `String`-keyed dictionary and cannot load such a file yet.
    ///
    /// Throws `.invalidValue` when two ids share a token string (a JSON vocabulary maps a string to
    /// one id) and `.invalidMerge` for a byte-level merge without a space.
    public func tokenizerJSON() throws(TokenizerError) -> Data {
        Data(try tokenizerJSONText().utf8)
    }

    /// `tokenizer.json` as JSON text (see `tokenizerJSON()`).
    ///
    /// Written member by member rather than as one `JSONValue`: Swift `String` keys compare by
    /// canonical equivalence, so a dictionary would fold vocabulary entries such as `য়` (U+09DF)
    /// and `য়` (U+09AF U+09BC) into one, while the file must keep them apart, byte for byte.
    func tokenizerJSONText() throws(TokenizerError) -> String {
        var seen: [[UInt8]: Int] = [:]
        seen.reserveCapacity(tokens.count)
        var vocab: [(String, String)] = []
        vocab.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() {
            if let first = seen.updateValue(id, forKey: Array(token.utf8)) {
                throw .invalidValue(source: source, key: "tokens",
                                    detail: "ids \(first) and \(id) are both \(token.debugDescription); a tokenizer.json vocabulary maps each string to one id, so this vocabulary cannot be exported")
            }
            vocab.append((token, String(id)))
        }
        let pairs: [(String, String)]
        switch model {
        case .byteLevelBPE:
            pairs = try merges.enumerated().map { (index, merge) throws(TokenizerError) in
                guard let (left, right) = Self.splitMerge(merge) else {
                    throw .invalidMerge(source: source, index: index, merge: merge)
                }
                return (left, right)
            }
        case .sentencePieceBPE:
            pairs = sentencePieceMerges()
        }
        let spm = model == .sentencePieceBPE
        let unknown: JSONValue = spm ? unknownID.map { .string(tokens[Int($0)]) } ?? .null : .null
        let bpe: [(String, String)] = [
            ("type", JSONValue.string("BPE").serialized()),
            ("dropout", "null"),
            ("unk_token", unknown.serialized()),
            ("continuing_subword_prefix", "null"),
            ("end_of_word_suffix", "null"),
            ("fuse_unk", "false"),
            ("byte_fallback", JSONValue.bool(spm).serialized()),
            ("ignore_merges", "false"),
            ("vocab", Self.rawObject(vocab)),
            ("merges", JSONValue.array(pairs.map { .array([.string($0.0), .string($0.1)]) }).serialized()),
        ]
        let decoder = spm ? spmDecoderJSON() : Self.component("ByteLevel", [
            ("add_prefix_space", .bool(true)), ("trim_offsets", .bool(true)), ("use_regex", .bool(true)),
        ])
        let root: [(String, String)] = [
            ("version", JSONValue.string("1.0").serialized()),
            ("truncation", "null"),
            ("padding", "null"),
            ("added_tokens", JSONValue.array(addedTokensJSON()).serialized()),
            ("normalizer", (spm ? spmNormalizerJSON() : .null).serialized()),
            ("pre_tokenizer", try preTokenizerJSON().serialized()),
            ("post_processor", postProcessorJSON().serialized()),
            ("decoder", decoder.serialized()),
            ("model", Self.rawObject(bpe)),
        ]
        return Self.rawObject(root)
    }

    /// A JSON object from keys and the JSON text of their values, in order, duplicates kept.
    private static func rawObject(_ members: [(key: String, json: String)]) -> String {
        var text = "{"
        for (index, member) in members.enumerated() {
            if index > 0 { text += "," }
            text += JSONValue.string(member.key).serialized()
            text += ":"
            text += member.json
        }
        return text + "}"
    }

    /// transformers' `tokenizer_config.json`: the fast tokenizer class (so the pipeline of
    /// `tokenizer.json` is used as written), the special token strings, and `add_bos_token` /
    /// `add_eos_token` as `encode(_:addSpecial: true)` applies them, and the chat template if given.
    ///
    /// transformers 5 ignores the class for some `config.json` model types: for `qwen2` it loads
    /// `Qwen2Tokenizer`, which adds an NFC normalizer (as upstream Qwen2 files have, and llama.cpp
    /// and this module do not), so its ids differ on text that is not in NFC.
    public func tokenizerConfigJSON(chatTemplate: String? = nil) -> Data {
        var members: [(String, JSONValue)] = [
            ("tokenizer_class", .string("PreTrainedTokenizerFast")),
            ("add_bos_token", .bool(addBOS)),
            ("add_eos_token", .bool(addEOS)),
            ("clean_up_tokenization_spaces", .bool(false)),
        ]
        members += specialTokenMembers()
        if let chatTemplate { members.append(("chat_template", .string(chatTemplate))) }
        return Data(JSONValue.object(JSONObject(members)).serialized(pretty: true).utf8)
    }

    /// transformers' `special_tokens_map.json`: the strings of the BOS, EOS, unknown and padding
    /// tokens that are defined.
    public func specialTokensMapJSON() -> Data {
        Data(JSONValue.object(JSONObject(specialTokenMembers())).serialized(pretty: true).utf8)
    }

    /// SentencePiece-style merges for a Hugging Face `BPE` model, same construction as
    /// `scripts/reference/tokenizer_fixture.py` (llama.cpp's `llm_tokenizer_spm` rule: any adjacent
    /// pair whose concatenation is a token may merge, highest score first).
    ///
    /// For every token `t` and every split of `t` into two vocabulary tokens `a + b` at a Unicode
    /// scalar boundary, one merge `(a, b)`; merges sorted by score descending, then token id, then
    /// split position. `init(tokenizerJSON:)` turns the ranks back into scores (minus the rank of
    /// the first merge producing each token), which keeps this order.
    func sentencePieceMerges() -> [(String, String)] {
        let vocabulary = Set(tokens.map { Array($0.utf8) })   // by bytes, not canonical equivalence
        struct Candidate { var score: Float; var id: Int; var split: Int; var left: String; var right: String }
        var candidates: [Candidate] = []
        for (id, token) in tokens.enumerated() {
            let scalars = Array(token.unicodeScalars)
            guard scalars.count > 1 else { continue }
            for split in 1..<scalars.count {
                var left = String.UnicodeScalarView(), right = String.UnicodeScalarView()
                left.append(contentsOf: scalars[..<split])
                right.append(contentsOf: scalars[split...])
                let a = String(left), b = String(right)
                if vocabulary.contains(Array(a.utf8)) && vocabulary.contains(Array(b.utf8)) {
                    candidates.append(Candidate(score: scores[id], id: id, split: split, left: a, right: b))
                }
            }
        }
        candidates.sort { x, y in
            if x.score != y.score { return x.score > y.score }
            if x.id != y.id { return x.id < y.id }
            return x.split < y.split
        }
        return candidates.map { ($0.left, $0.right) }
    }

    // MARK: Components

    /// `{"type": type, ...members}`.
    private static func component(_ type: String, _ members: [(String, JSONValue)] = []) -> JSONValue {
        .object(JSONObject([("type", .string(type))] + members))
    }

    private static func sequence(_ key: String, _ items: [JSONValue]) -> JSONValue {
        items.count == 1 ? items[0] : component("Sequence", [(key, .array(items))])
    }

    private func addedTokensJSON() -> [JSONValue] {
        tokens.indices.filter { tokenTypes[$0].isMatchedVerbatim }.map { id in
            .object(JSONObject([
                ("id", .integer(id)),
                ("content", .string(tokens[id])),
                ("single_word", .bool(false)),
                ("lstrip", .bool(false)),
                ("rstrip", .bool(false)),
                ("normalized", .bool(false)),
                ("special", .bool(tokenTypes[id] == .control)),
            ]))
        }
    }

    private func preTokenizerJSON() throws(TokenizerError) -> JSONValue {
        guard model == .byteLevelBPE else { return .null }
        guard let preTokenizer else { throw .missingKey(source: source, key: "pre-tokenizer (tokenizer.ggml.pre)") }
        func byteLevel(useRegex: Bool) -> JSONValue {
            Self.component("ByteLevel", [("add_prefix_space", .bool(false)), ("trim_offsets", .bool(true)),
                                         ("use_regex", .bool(useRegex))])
        }
        func split(_ regex: String) -> JSONValue {
            Self.component("Split", [("pattern", .object(JSONObject([("Regex", .string(regex))]))),
                                     ("behavior", .string("Isolated")), ("invert", .bool(false))])
        }
        switch preTokenizer {
        case .gpt2:
            return byteLevel(useRegex: true)
        case .smollm:
            return Self.sequence("pretokenizers", [Self.component("Digits", [("individual_digits", .bool(true))]),
                                                   byteLevel(useRegex: true)])
        case .qwen2:
            return Self.sequence("pretokenizers", [split(Self.qwen2Regex), byteLevel(useRegex: false)])
        case .llamaBPE:
            return Self.sequence("pretokenizers", [split(Self.llama3Regex), byteLevel(useRegex: false)])
        }
    }

    private func spmNormalizerJSON() -> JSONValue {
        let replace = Self.component("Replace", [("pattern", .object(JSONObject([("String", .string(" "))]))),
                                                 ("content", .string("\u{2581}"))])
        guard addSpacePrefix else { return replace }
        return Self.sequence("normalizers", [Self.component("Prepend", [("prepend", .string("\u{2581}"))]), replace])
    }

    private func spmDecoderJSON() -> JSONValue {
        var steps = [
            Self.component("Replace", [("pattern", .object(JSONObject([("String", .string("\u{2581}"))]))),
                                       ("content", .string(" "))]),
            Self.component("ByteFallback"),
            Self.component("Fuse"),
        ]
        if addSpacePrefix {
            steps.append(Self.component("Strip", [("content", .string(" ")), ("start", .integer(1)), ("stop", .integer(0))]))
        }
        return Self.sequence("decoders", steps)
    }

    /// `TemplateProcessing` adding BOS before and EOS after each sequence, as `encode` does.
    private func postProcessorJSON() -> JSONValue {
        let bos = addBOS ? bosID : nil, eos = addEOS ? eosID : nil
        guard bos != nil || eos != nil else { return .null }
        func special(_ id: Int32, typeID: Int) -> JSONValue {
            .object(JSONObject([("SpecialToken", .object(JSONObject([("id", .string(tokens[Int(id)])),
                                                                     ("type_id", .integer(typeID))])))]))
        }
        func sequence(_ name: String, typeID: Int) -> JSONValue {
            .object(JSONObject([("Sequence", .object(JSONObject([("id", .string(name)), ("type_id", .integer(typeID))])))]))
        }
        func template(_ name: String, typeID: Int) -> [JSONValue] {
            (bos.map { [special($0, typeID: typeID)] } ?? []) + [sequence(name, typeID: typeID)]
                + (eos.map { [special($0, typeID: typeID)] } ?? [])
        }
        var specials = JSONObject()
        for id in [bos, eos].compactMap({ $0 }) {
            let token = tokens[Int(id)]
            specials[token] = .object(JSONObject([("id", .string(token)), ("ids", .array([.integer(Int(id))])),
                                                  ("tokens", .array([.string(token)]))]))
        }
        return Self.component("TemplateProcessing", [
            ("single", .array(template("A", typeID: 0))),
            ("pair", .array(template("A", typeID: 0) + template("B", typeID: 1))),
            ("special_tokens", .object(specials)),
        ])
    }

    /// `bos_token`, `eos_token`, `unk_token`, `pad_token` for the ids that are set.
    private func specialTokenMembers() -> [(String, JSONValue)] {
        [("bos_token", bosID), ("eos_token", eosID), ("unk_token", unknownID), ("pad_token", paddingID)]
            .compactMap { key, id in id.map { (key, .string(tokens[Int($0)])) } }
    }
}
