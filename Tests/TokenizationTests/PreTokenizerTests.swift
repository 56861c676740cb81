import Testing
import Tokenization

/// Hand-checked splits of the regex scanners (expected values follow the regexes in
/// `PreTokenizer`'s documentation; the real-vocabulary fixtures cover them against Oniguruma).
@Suite("Pre-tokenizers")
struct PreTokenizerTests {
    @Test func gpt2() {
        #expect(PreTokenizer.gpt2.preTokenize("Hello  world's 123 x!!\n\n  y  ")
                == ["Hello", " ", " world", "'s", " 123", " x", "!!", "\n\n ", " y", "  "])
        #expect(PreTokenizer.gpt2.preTokenize("IT'S") == ["IT", "'", "S"])
        #expect(PreTokenizer.gpt2.preTokenize("a\u{00A0}b") == ["a", "\u{00A0}", "b"])
    }

    @Test func smollmSplitsEveryNumberCharacter() {
        #expect(PreTokenizer.smollm.preTokenize("a 123½x") == ["a", " ", "1", "2", "3", "½", "x"])
        #expect(PreTokenizer.smollm.preTokenize("x ٣٤") == ["x", " ", "٣", "٤"])
    }

    @Test func qwen2() {
        #expect(PreTokenizer.qwen2.preTokenize("IT'S 12345 \"quoted\"\r\n\r\n  end   ")
                == ["IT", "'S", " ", "1", "2", "3", "4", "5", " \"", "quoted", "\"\r\n\r\n", " ", " end", "   "])
        #expect(PreTokenizer.qwen2.preTokenize("a\n\n b") == ["a", "\n\n", " b"])
        #expect(PreTokenizer.qwen2.preTokenize("x  \n  y") == ["x", "  \n", " ", " y"])
    }

    @Test func llamaBPEGroupsUpToThreeDigits() {
        #expect(PreTokenizer.llamaBPE.preTokenize("12345678") == ["123", "456", "78"])
    }

    @Test func unknownNameListsSupported() {
        #expect(throws: TokenizerError.unsupportedPreTokenizer(source: "m.gguf", found: "falcon",
                                                               supported: ["gpt2", "smollm", "qwen2", "llama-bpe"])) {
            try PreTokenizer(ggufName: "falcon", source: "m.gguf")
        }
    }
}
