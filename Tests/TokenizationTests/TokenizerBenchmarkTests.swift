import Foundation
import Testing
import TensorIO
import Tokenization
import _TestSupport

/// Throughput on the WikiText-2 test file (1.29 MB); prints MB/s. Meaningful in release builds.
@Suite("Tokenizer benchmark")
struct TokenizerBenchmarkTests {
    @Test("WikiText-2 throughput", .enabled(if: TestAssets.has(TestAssets.wikitext2Test, TestAssets.model("smollm2-135m"),
                                                             TestAssets.model("qwen2.5-coder-0.5b"), TestAssets.model("gemma3-270m"))),
          arguments: ["smollm2-135m", "qwen2.5-coder-0.5b", "gemma3-270m"])
    func wikitext2(model: String) throws {
        let tokenizer = try TokenizerDefinition(metadata: try GGUFFile(url: TestAssets.model(model))).makeTokenizer()
        let text = try ReferenceFixture.corpus("wikitext2")
        let result = TokenizerBenchmark.measure(tokenizer, text: text, repetitions: 3)
        print("tokenizer benchmark \(model): \(result.bytes) bytes → \(result.tokens) tokens in \(String(format: "%.3f", result.seconds)) s = \(String(format: "%.2f", result.megabytesPerSecond)) MB/s")
        #expect(result.tokens > 0 && result.seconds > 0)
    }
}
