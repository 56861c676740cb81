import Foundation
import Testing
import TensorIO
import Tokenization
import _TestSupport

/// `tokenizerJSON()` read back by `init(tokenizerJSON:)`: the same definition (up to what a
/// `tokenizer.json` cannot carry: scores, unused BOS/EOS ids, token kinds other than
/// control/user-defined/byte/unknown) and the same ids as the GGUF tokenizer on the reference
/// fixture's stress cases and WikiText-2 digest. Checking the exported files with Hugging Face
/// `tokenizers` and transformers is `scripts/reference/check_tokenizer_json.py`.
@Suite("Tokenizer export")
struct TokenizerExportTests {
    /// Parses `definition`'s export, with the original's source name so the two can be compared.
    static func roundTrip(_ definition: TokenizerDefinition) throws -> TokenizerDefinition {
        var parsed = try TokenizerDefinition(tokenizerJSON: try definition.tokenizerJSON())
        parsed.source = definition.source
        return parsed
    }

    static func gpt2Bytes() -> [String] {
        (0..<256).map { byte -> String in
            let printable: (Int) -> Bool = { (33...126).contains($0) || (161...172).contains($0) || (174...255).contains($0) }
            let offset = (0..<byte).filter { !printable($0) }.count
            return String(Unicode.Scalar(printable(byte) ? UInt32(byte) : 256 + UInt32(offset)).map(Character.init) ?? "?")
        }
    }

    @Test("byte-level definition comes back equal, BOS template included", arguments: PreTokenizer.allCases)
    func byteLevelRoundTrip(pre: PreTokenizer) throws {
        let tokens = Self.gpt2Bytes() + ["Ġt", "he", "Ġthe", "<|end|>", "<tool>"]
        let types = [TokenizerDefinition.TokenType](repeating: .normal, count: 259) + [.control, .userDefined]
        for addBOS in [false, true] {
            let definition = try TokenizerDefinition(
                model: .byteLevelBPE, preTokenizer: pre, tokens: tokens, tokenTypes: types, merges: ["h e", "Ġ t", "Ġt he"],
                bosID: addBOS ? 259 : nil, eosID: addBOS ? 259 : nil, addBOS: addBOS, addEOS: addBOS)
            #expect(try Self.roundTrip(definition) == definition)
            #expect(try definition.tokenizerJSON() == definition.tokenizerJSON())
        }
    }

    @Test("SentencePiece-style definition tokenizes the same after export", arguments: [false, true])
    func sentencePieceRoundTrip(addSpacePrefix: Bool) throws {
        let definition = try TokenizerDefinition(
            model: .sentencePieceBPE, preTokenizer: nil,
            tokens: ["<unk>", "<s>", "</s>", "<0x63>", "▁", "a", "b", "ab", "▁ab", "ba", "▁a"],
            tokenTypes: [.unknown, .control, .control, .byte, .normal, .normal, .normal, .normal, .normal, .normal, .normal],
            scores: [0, 0, 0, 0, -1, -2, -3, -4, -5, -6, -7], bosID: 1, eosID: 2, unknownID: 0,
            addBOS: true, addSpacePrefix: addSpacePrefix)
        let parsed = try Self.roundTrip(definition)
        #expect(parsed.tokens == definition.tokens)
        #expect(parsed.tokenTypes == definition.tokenTypes)
        #expect(parsed.addSpacePrefix == addSpacePrefix && parsed.addBOS && parsed.bosID == 1 && parsed.unknownID == 0)
        let original = try definition.makeTokenizer(), exported = try parsed.makeTokenizer()
        for text in ["ab c", "bab a</s>aba", " a  b ", "</s>", "", "cc ab"] {
            #expect(exported.encode(text, addSpecial: true) == original.encode(text, addSpecial: true), "\(text.debugDescription)")
        }
    }

    @Test func duplicateTokenStringsAreRejected() throws {
        let definition = try TokenizerDefinition(model: .sentencePieceBPE, preTokenizer: nil, tokens: ["a", "b", "a"],
                                                 tokenTypes: [.normal, .normal, .normal], scores: [0, 0, 0])
        #expect(throws: TokenizerError.self) { try definition.tokenizerJSON() }
    }

    /// `য়` (U+09DF) and `য়` (U+09AF U+09BC) are equal as Swift strings but distinct tokens.
    @Test func canonicallyEquivalentTokensStayDistinct() throws {
        let definition = try TokenizerDefinition(model: .sentencePieceBPE, preTokenizer: nil,
                                                 tokens: ["<unk>", "\u{09DF}", "\u{09AF}\u{09BC}", "\u{09AF}", "\u{09BC}"],
                                                 tokenTypes: [.unknown, .normal, .normal, .normal, .normal], scores: [0, -1, -2, -3, -4])
        let text = String(decoding: try definition.tokenizerJSON(), as: UTF8.self)
        #expect(text.utf8.contains("\"\u{09DF}\":1,\"\u{09AF}\u{09BC}\":2".utf8))
        #expect(text.utf8.contains("\"merges\":[[\"\u{09AF}\",\"\u{09BC}\"]]".utf8))
    }

    @Test("writes tokenizer.json, tokenizer_config.json and special_tokens_map.json")
    func writesDirectory() throws {
        let definition = try TokenizerDefinition(
            model: .byteLevelBPE, preTokenizer: .qwen2, tokens: Self.gpt2Bytes() + ["<|endoftext|>"],
            tokenTypes: [TokenizerDefinition.TokenType](repeating: .normal, count: 256) + [.control], eosID: 256)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dlp-tokenizer-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try definition.writeHuggingFaceFiles(to: directory)
        let json = try Data(contentsOf: directory.appendingPathComponent("tokenizer.json"))
        #expect(try Self.roundTrip(definition).tokens == TokenizerDefinition(tokenizerJSON: json).tokens)
        let config = try JSONValue.parse([UInt8](try Data(contentsOf: directory.appendingPathComponent("tokenizer_config.json"))))
        #expect(config["tokenizer_class"]?.stringValue == "PreTrainedTokenizerFast")
        #expect(config["eos_token"]?.stringValue == "<|endoftext|>")
        #expect(config["add_bos_token"]?.boolValue == false)
        #expect(config["bos_token"] == nil)
        let map = try JSONValue.parse([UInt8](try Data(contentsOf: directory.appendingPathComponent("special_tokens_map.json"))))
        #expect(map["eos_token"]?.stringValue == "<|endoftext|>")
    }

    /// Byte-level models; gemma3-270m's export is checked by the script only, as
    /// `init(tokenizerJSON:)` reads the vocabulary into a `String`-keyed dictionary, which folds its
    /// canonically equivalent tokens (ids 3082 and 4388) into one.
    static let models = ["smollm2-135m", "qwen2.5-coder-0.5b"]

    static func assetsPresent(_ model: String) -> Bool {
        TestAssets.has(TestAssets.model(model), TestAssets.fixture("tokenizer/\(model).json"), TestAssets.wikitext2Test)
    }

    @Test("GGUF tokenizer exported and read back agrees with the reference",
          .enabled(if: models.allSatisfy(assetsPresent)), arguments: models)
    func ggufExportAgreesWithReference(model: String) throws {
        let fromGGUF = try TokenizerDefinition(metadata: try GGUFFile(url: TestAssets.model(model)))
        let fromJSON = try Self.roundTrip(fromGGUF)
        #expect(fromJSON.model == fromGGUF.model)
        #expect(fromJSON.preTokenizer == fromGGUF.preTokenizer)
        #expect(fromJSON.tokens == fromGGUF.tokens)
        #expect(fromJSON.merges == fromGGUF.merges)
        #expect(fromJSON.tokenTypes.map(\.isMatchedVerbatim) == fromGGUF.tokenTypes.map(\.isMatchedVerbatim))
        #expect(fromJSON.addBOS == fromGGUF.addBOS && fromJSON.addEOS == fromGGUF.addEOS)
        #expect(fromJSON.addSpacePrefix == fromGGUF.addSpacePrefix)
        if fromGGUF.addBOS { #expect(fromJSON.bosID == fromGGUF.bosID) }

        let fixture = try ReferenceFixture.load(model)
        let tokenizer = try fromJSON.makeTokenizer()
        for item in fixture.stress {
            #expect(tokenizer.encode(item.text, addSpecial: true) == item.ids, "\(model): \(item.text.debugDescription)")
        }
        let expected = try #require(fixture.corpora["wikitext2"])
        let ids = tokenizer.encode(try ReferenceFixture.corpus("wikitext2"), addSpecial: true)
        #expect(ids.count == expected.count, "\(model) WikiText-2 token count")
        #expect(idDigest(ids) == expected.sha256, "\(model) WikiText-2 id digest")
    }
}
