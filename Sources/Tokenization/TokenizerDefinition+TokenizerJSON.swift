import Foundation

extension TokenizerDefinition {
    /// The LLaMA-3 split regex as Hugging Face files spell it (`llama-bpe`).
    static let llama3Regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    /// The Qwen2 split regex (`qwen2`).
    static let qwen2Regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Reads a Hugging Face `tokenizer.json` with a `BPE` model.
    ///
    /// Byte-level files (a `ByteLevel` pre-tokenizer) map to `byteLevelBPE`, with the pre-tokenizer
    /// recognised from its exact shape: `ByteLevel` → `gpt2`; `Digits(individual)`, `ByteLevel` →
    /// `smollm`; `Split(Qwen2 or LLaMA-3 regex)`, `ByteLevel(use_regex: false)` → `qwen2` /
    /// `llama-bpe`. Files with `byte_fallback` map to `sentencePieceBPE`; as the file has merges but
    /// no scores, each token's score is minus the rank of the first merge producing it, which gives
    /// the same merge order when the merges list every split of every token (as the converters of
    /// SentencePiece models write them). Added tokens become control (`special`) or user-defined
    /// tokens; BOS/EOS come from a `TemplateProcessing` post-processor.
    public init(tokenizerJSON data: Data, source: String = "tokenizer.json") throws {
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TokenizerError.invalidValue(source: source, key: "(root)", detail: "not a JSON object")
        }
        guard let modelObject = root["model"] as? [String: Any] else { throw TokenizerError.missingKey(source: source, key: "model") }
        let modelType = modelObject["type"] as? String ?? "BPE"
        guard modelType == "BPE" else {
            throw TokenizerError.unsupportedModel(source: source, found: modelType, supported: ["BPE"])
        }
        guard let vocab = modelObject["vocab"] as? [String: Int] else {
            throw TokenizerError.missingKey(source: source, key: "model.vocab")
        }
        let merges: [String]
        if let strings = modelObject["merges"] as? [String] {
            merges = strings
        } else if let pairs = modelObject["merges"] as? [[String]] {
            merges = pairs.map { $0.joined(separator: " ") }
        } else {
            throw TokenizerError.missingKey(source: source, key: "model.merges")
        }
        let added = (root["added_tokens"] as? [[String: Any]]) ?? []

        var byID: [Int: String] = [:]
        for (token, id) in vocab { byID[id] = token }
        var addedType: [Int: TokenType] = [:]
        for entry in added {
            guard let id = entry["id"] as? Int, let content = entry["content"] as? String else {
                throw TokenizerError.invalidValue(source: source, key: "added_tokens", detail: "entry without id/content")
            }
            byID[id] = content
            addedType[id] = (entry["special"] as? Bool ?? false) ? .control : .userDefined
        }
        let count = (byID.keys.max() ?? -1) + 1
        guard count > 0, count <= 10_000_000 else {
            throw TokenizerError.invalidValue(source: source, key: "model.vocab", detail: "vocabulary size \(count)")
        }
        // Ids must be 0..<count, one token each: checked before `count` (the largest id in the
        // file, not the number of tokens) sizes anything.
        if let negative = byID.keys.first(where: { $0 < 0 }) {
            throw TokenizerError.invalidValue(source: source, key: "model.vocab", detail: "id \(negative) is negative; ids must be 0, 1, 2, ...")
        }
        if count != byID.count, let id = (0..<count).first(where: { byID[$0] == nil }) {
            throw TokenizerError.invalidValue(source: source, key: "model.vocab",
                                              detail: "no token has id \(id); ids must be dense (\(byID.count) tokens, largest id \(count - 1))")
        }
        var tokens: [String] = []
        tokens.reserveCapacity(count)
        for id in 0..<count {
            guard let token = byID[id] else {
                throw TokenizerError.invalidValue(source: source, key: "model.vocab", detail: "no token has id \(id); ids must be dense")
            }
            tokens.append(token)
        }

        let byteFallback = modelObject["byte_fallback"] as? Bool ?? false
        let preSteps = Self.steps(root["pre_tokenizer"])
        let normalizerSteps = Self.steps(root["normalizer"])
        let unknownID = (modelObject["unk_token"] as? String).flatMap { vocab[$0] }.map(Int32.init)
        var types = tokens.indices.map { addedType[$0] ?? .normal }
        if let unknownID, addedType[Int(unknownID)] == nil { types[Int(unknownID)] = .unknown }

        let model: Model
        var pre: PreTokenizer? = nil
        var scores: [Float] = []
        var addSpacePrefix = false
        if preSteps.contains(where: { $0["type"] as? String == "ByteLevel" }) {
            model = .byteLevelBPE
            pre = try Self.byteLevelPreTokenizer(preSteps, source: source)
        } else if byteFallback {
            model = .sentencePieceBPE
            for (id, token) in tokens.enumerated() where types[id] == .normal && SentencePieceBPETokenizer.byteValue(token) != nil {
                types[id] = .byte
            }
            var rank: [String: Int] = [:]
            for (index, merge) in merges.enumerated() {
                guard let (left, right) = Self.splitMerge(merge) else {
                    throw TokenizerError.invalidMerge(source: source, index: index, merge: merge)
                }
                if rank[left + right] == nil { rank[left + right] = index }
            }
            scores = tokens.map { rank[$0].map { -Float($0) } ?? -Float(merges.count) }
            addSpacePrefix = normalizerSteps.contains { $0["type"] as? String == "Prepend" }
                || preSteps.contains { $0["type"] as? String == "Metaspace" && ($0["prepend_scheme"] as? String ?? "always") != "never" }
        } else {
            throw TokenizerError.unsupportedPreTokenizer(
                source: source, found: preSteps.compactMap { $0["type"] as? String }.joined(separator: ", "),
                supported: ["ByteLevel-based (gpt2, smollm, qwen2, llama-bpe)", "SentencePiece-style BPE with byte_fallback"])
        }

        var bos: Int32? = nil, eos: Int32? = nil
        if let post = root["post_processor"] as? [String: Any] {
            for step in Self.steps(post) where step["type"] as? String == "TemplateProcessing" {
                let single = step["single"] as? [[String: Any]] ?? []
                func specialID(_ item: [String: Any]?) -> Int32? {
                    guard let special = item?["SpecialToken"] as? [String: Any], let name = special["id"] as? String,
                          let id = vocab[name] ?? tokens.firstIndex(of: name) else { return nil }
                    return Int32(id)
                }
                bos = specialID(single.first)
                eos = single.count > 1 ? specialID(single.last) : nil
            }
        }
        try self.init(model: model, preTokenizer: pre, tokens: tokens, tokenTypes: types, scores: scores,
                      merges: model == .byteLevelBPE ? merges : [], bosID: bos, eosID: eos, unknownID: unknownID,
                      addBOS: bos != nil, addEOS: eos != nil, addSpacePrefix: addSpacePrefix, source: source)
    }

    /// A component or the flattened steps of a `Sequence` component.
    private static func steps(_ value: Any?) -> [[String: Any]] {
        guard let object = value as? [String: Any] else { return [] }
        if object["type"] as? String == "Sequence" {
            let inner = (object["pretokenizers"] ?? object["normalizers"] ?? object["processors"]) as? [Any] ?? []
            return inner.flatMap { steps($0) }
        }
        return [object]
    }

    private static func byteLevelPreTokenizer(_ steps: [[String: Any]], source: String) throws(TokenizerError) -> PreTokenizer {
        let types = steps.map { $0["type"] as? String ?? "?" }
        let last = steps.last ?? [:]
        let useRegex = last["use_regex"] as? Bool ?? true
        if types == ["ByteLevel"] && useRegex { return .gpt2 }
        if types == ["Digits", "ByteLevel"] && useRegex && (steps[0]["individual_digits"] as? Bool ?? false) { return .smollm }
        if types == ["Split", "ByteLevel"] && !useRegex,
           let pattern = steps[0]["pattern"] as? [String: Any], let regex = pattern["Regex"] as? String {
            if regex == qwen2Regex { return .qwen2 }
            if regex == llama3Regex { return .llamaBPE }
        }
        throw .unsupportedPreTokenizer(source: source, found: types.joined(separator: " → "),
                                       supported: PreTokenizer.allCases.map(\.rawValue))
    }
}
