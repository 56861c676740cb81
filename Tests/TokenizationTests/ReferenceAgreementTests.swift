import Foundation
import Testing
import TensorIO
import Tokenization
import _TestSupport

/// Agreement with Hugging Face `tokenizers` rebuilt from each GGUF vocabulary
/// (`scripts/reference/tokenizer_fixture.py`): literal ids of the stress cases, count and sha256 of
/// the ids of WikiText-2 test, PTB test and the C4 calibration file, and `decode(encode(x)) == x`.
/// qwen2.5-coder-1.5b shares the 0.5b tokenizer (same vocabulary digest), so it has no own fixture.
@Suite("Reference agreement")
struct ReferenceAgreementTests {
    static let models = ["smollm2-135m", "qwen2.5-coder-0.5b", "gemma3-270m"]
    static let allAssets = models.map { TestAssets.model($0) } + ReferenceFixture.corpusFiles.values

    static func allPresent() -> Bool { allAssets.allSatisfy { TestAssets.has($0) } }

    @Test("ids, digests and round trip match the reference", .enabled(if: allPresent()), arguments: models)
    func agreesWithReference(model: String) throws {
        let fixture = try ReferenceFixture.load(model)
        let definition = try TokenizerDefinition(metadata: try GGUFFile(url: TestAssets.model(model)))
        let tokenizer = try definition.makeTokenizer()

        for item in fixture.stress {
            let ids = tokenizer.encode(item.text, addSpecial: true)
            #expect(ids == item.ids, "\(model): \(item.text.debugDescription)")
            #expect(tokenizer.decode(tokenizer.encode(item.text, addSpecial: false)) == item.text, "\(model) round trip: \(item.text.debugDescription)")
        }
        for (name, expected) in fixture.corpora.sorted(by: { $0.key < $1.key }) {
            let text = try ReferenceFixture.corpus(name)
            let ids = tokenizer.encode(text, addSpecial: true)
            #expect(ids.count == expected.count, "\(model) \(name) token count")
            #expect(idDigest(ids) == expected.sha256, "\(model) \(name) id digest")
            let body = definition.addBOS ? Array(ids.dropFirst()) : ids
            let decoded = tokenizer.decode(body)
            let mismatch = zip(decoded.unicodeScalars, text.unicodeScalars).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            let same = decoded == text
            #expect(same, "\(model) \(name) round trip: lengths \(decoded.unicodeScalars.count) vs \(text.unicodeScalars.count), first difference at scalar \(mismatch.map(String.init) ?? "end")\(mismatch.map { ": " + String(String.UnicodeScalarView(decoded.unicodeScalars.dropFirst(max(0, $0 - 20)).prefix(40))).debugDescription } ?? "")")
        }
    }

    @Test("tokenizer.json gives the same definition as the GGUF",
          // The HF-written tokenizer.json files are made by scripts/reference/tokenizer_fixture.py
          // (needs the `tokenizers` package), not by the asset step, so this runs where they exist.
          .enabled(if: TestAssets.has(TestAssets.model("smollm2-135m"), TestAssets.model("qwen2.5-coder-0.5b"))
              && ["smollm2-135m", "qwen2.5-coder-0.5b"].allSatisfy {
                  FileManager.default.fileExists(atPath: ReferenceFixture.tokenizerJSON($0).path)
              }),
          arguments: ["smollm2-135m", "qwen2.5-coder-0.5b"])
    func tokenizerJSONMatchesGGUF(model: String) throws {
        let fromGGUF = try TokenizerDefinition(metadata: try GGUFFile(url: TestAssets.model(model)))
        let fromJSON = try TokenizerDefinition(tokenizerJSON: try Data(contentsOf: ReferenceFixture.tokenizerJSON(model)))
        #expect(fromJSON.model == fromGGUF.model)
        #expect(fromJSON.preTokenizer == fromGGUF.preTokenizer)
        #expect(fromJSON.tokens == fromGGUF.tokens)
        #expect(fromJSON.merges == fromGGUF.merges)
        let verbatimJSON = fromJSON.tokenTypes.map(\.isMatchedVerbatim)
        let verbatimGGUF = fromGGUF.tokenTypes.map(\.isMatchedVerbatim)
        #expect(verbatimJSON == verbatimGGUF)
        let fixture = try ReferenceFixture.load(model)
        let tokenizer = try fromJSON.makeTokenizer()
        for item in fixture.stress {
            #expect(tokenizer.encode(item.text, addSpecial: true) == item.ids, "\(model): \(item.text.debugDescription)")
        }
    }
}
