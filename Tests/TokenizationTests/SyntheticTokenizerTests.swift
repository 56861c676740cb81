import Foundation
import Testing
import Tokenization

/// Small hand-built vocabularies whose expected ids are worked out by hand.
@Suite("Synthetic tokenizers")
struct SyntheticTokenizerTests {
    /// `▁ab` needs `ab` first (score order), `c` is not a token and falls back to `<0x63>`.
    static func sentencePiece(addSpacePrefix: Bool) throws -> TokenizerDefinition {
        try TokenizerDefinition(
            model: .sentencePieceBPE, preTokenizer: nil,
            tokens: ["<unk>", "<s>", "</s>", "<0x63>", "▁", "a", "b", "ab", "▁ab"],
            tokenTypes: [.unknown, .control, .control, .byte, .normal, .normal, .normal, .normal, .normal],
            scores: [0, 0, 0, 0, -1, -2, -3, -4, -5], bosID: 1, eosID: 2, unknownID: 0,
            addBOS: true, addSpacePrefix: addSpacePrefix)
    }

    @Test func sentencePieceMergesByScoreWithByteFallback() throws {
        let tokenizer = try Self.sentencePiece(addSpacePrefix: true).makeTokenizer()
        #expect(tokenizer.encode("ab c", addSpecial: true) == [1, 8, 4, 3])
        #expect(tokenizer.encode("ab c", addSpecial: false) == [8, 4, 3])
        #expect(tokenizer.decode([8, 4, 3]) == "ab c")
        #expect(tokenizer.encode("</s>ab", addSpecial: false) == [2, 8])
        let plain = try Self.sentencePiece(addSpacePrefix: false).makeTokenizer()
        #expect(plain.encode("ab c", addSpecial: false) == [7, 4, 3])
        #expect(plain.decode([7, 4, 3]) == "ab c")
    }

    /// Byte-level vocabulary of the 256 single-byte tokens plus `Ġt`, `he`, `Ġthe` by merge rank.
    @Test func byteLevelMergesByRankAndMatchesSpecialTokens() throws {
        var tokens = (0..<256).map { byte -> String in
            let b = UInt8(byte)
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            let offset = (0..<Int(b)).filter { x in !((33...126).contains(x) || (161...172).contains(x) || (174...255).contains(x)) }.count
            return String(Character(Unicode.Scalar(printable ? UInt32(b) : 256 + UInt32(offset))!))
        }
        tokens += ["Ġt", "he", "Ġthe", "<|end|>"]
        let types = [TokenizerDefinition.TokenType](repeating: .normal, count: 259) + [.control]
        let definition = try TokenizerDefinition(model: .byteLevelBPE, preTokenizer: .gpt2, tokens: tokens, tokenTypes: types,
                                                 merges: ["h e", "Ġ t", "Ġt he"])
        let tokenizer = try definition.makeTokenizer()
        #expect(tokenizer.encode(" the<|end|>x", addSpecial: true) == [258, 259, Int32(UInt8(ascii: "x"))])
        #expect(tokenizer.decode([258, 259, 120]) == " the<|end|>x")
    }

    @Test func definitionRejectsMismatchedArrays() {
        #expect(throws: TokenizerError.self) {
            try TokenizerDefinition(model: .sentencePieceBPE, preTokenizer: nil, tokens: ["a", "b"],
                                    tokenTypes: [.normal, .normal], scores: [0])
        }
        #expect(throws: TokenizerError.self) {
            try TokenizerDefinition(model: .byteLevelBPE, preTokenizer: .gpt2, tokens: ["a", "b"],
                                    tokenTypes: [.normal, .normal], merges: ["a c"]).makeTokenizer()
        }
    }

    /// A vocabulary's size is its largest id + 1; a sparse or negative id is refused before that
    /// number sizes the token table (two tokens with ids 0 and 9,999,998 would reserve ten million).
    @Test(arguments: [
        (#"{"a": 0, "b": 9999998}"#, "no token has id 1; ids must be dense (2 tokens, largest id 9999998)"),
        (#"{"a": 0, "b": 1, "c": -4}"#, "id -4 is negative"),
    ])
    func tokenizerJSONWithSparseOrNegativeIdsIsRefused(vocab: String, message: String) {
        let json = #"{"model": {"type": "BPE", "vocab": "# + vocab + #", "merges": []}}"#
        do {
            _ = try TokenizerDefinition(tokenizerJSON: Data(json.utf8))
            Issue.record("accepted \(vocab)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }
}
