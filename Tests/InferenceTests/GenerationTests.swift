import Foundation
import Inference
import TensorIO
import Testing
import Tokenization
import Transformer
import _TestSupport

@Suite struct SamplerTests {
    @Test func greedyTakesTheLikeliestToken() {
        var sampler = Sampler(temperature: 0)
        #expect(sampler.next([0.1, 3, -2, 3]) == 1)
    }

    /// The same seed gives the same draws; top-p keeps only the head of the distribution.
    @Test func seededAndNucleusRestricted() {
        let logits: [Float] = [5, 4.9, 0, -1, -3, 2]
        var a = Sampler(temperature: 1, topP: 1, seed: 42), b = Sampler(temperature: 1, topP: 1, seed: 42)
        let drawsA = (0..<200).map { _ in a.next(logits) }, drawsB = (0..<200).map { _ in b.next(logits) }
        #expect(drawsA == drawsB)
        #expect(Set(drawsA).count > 2, "temperature 1 over these logits reaches beyond the top two")
        // p(0) + p(1) ≈ 0.93 of the mass: top-p 0.9 keeps exactly those two.
        var nucleus = Sampler(temperature: 1, topP: 0.9, seed: 7)
        #expect(Set((0..<300).map { _ in nucleus.next(logits) }) == [0, 1])
    }
}

@Suite struct ChatTemplateTests {
    static let smol = TestAssets.model("smollm2-135m")
    static let qwen = TestAssets.model("qwen2.5-coder-0.5b")
    static let gemma = TestAssets.model("gemma3-270m")

    /// The ChatML layout with the default system prompt each model's own template writes.
    @Test(.enabled(if: TestAssets.has(smol, qwen)))
    func rendersTheModelsChatML() throws {
        let smol = try Checkpoint.openGGUF(Self.smol)
        let s = try ChatTemplate.detect(template: smol.chatTemplate(), tokenizer: smol.tokenizer())
        #expect(s.defaultSystem == "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        #expect(s.render(user: "Hi") == """
            <|im_start|>system
            You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
            <|im_start|>user
            Hi<|im_end|>
            <|im_start|>assistant

            """)
        let qwen = try Checkpoint.openGGUF(Self.qwen)
        let q = try ChatTemplate.detect(template: qwen.chatTemplate(), tokenizer: qwen.tokenizer())
        #expect(q.defaultSystem == "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.")
        #expect(q.render(user: "x", system: "Be brief.").hasPrefix("<|im_start|>system\nBe brief.<|im_end|>\n"))
        // The markers are single tokens of the vocabulary, not text.
        let ids = try smol.tokenizer().encode(s.render(user: "Hi"), addSpecial: true)
        #expect(ids.first == 1)
    }

    /// An export carries the model's chat template in `tokenizer_config.json`, where
    /// `Checkpoint.chatTemplate()` (and transformers) find it.
    @Test(.enabled(if: TestAssets.has(smol)))
    func exportsKeepTheChatTemplate() throws {
        let smol = try Checkpoint.openGGUF(Self.smol)
        let template = try #require(smol.chatTemplate())
        let json = try JSONValue.parse([UInt8](try smol.tokenizer().definition.tokenizerConfigJSON(chatTemplate: template)))
        #expect(json["chat_template"]?.stringValue == template)
    }

    /// A vocabulary without ChatML markers and no ChatML template: `--chat` is refused, saying why.
    @Test(.enabled(if: TestAssets.has(gemma)))
    func noChatMLAnywhereIsRefused() throws {
        let tokenizer = try TokenizerDefinition(metadata: GGUFFile(url: Self.gemma)).makeTokenizer()
        #expect(throws: GenerationError.noChatTemplate(detail: "the model carries no chat template")) {
            try ChatTemplate.detect(template: nil, tokenizer: tokenizer)
        }
        #expect(throws: GenerationError.noChatTemplate(detail: "its chat template is not ChatML")) {
            try ChatTemplate.detect(template: "{{ messages }}", tokenizer: tokenizer)
        }
    }

    @Test(.enabled(if: TestAssets.has(smol)))
    func templateWithoutChatMLFallsBackToTheVocabulary() throws {
        let smol = try Checkpoint.openGGUF(Self.smol)
        let t = try ChatTemplate.detect(template: "{{ messages }}", tokenizer: smol.tokenizer())
        #expect(t.defaultSystem == nil && t.origin.contains("vocabulary"))
    }
}

@Suite struct TextGeneratorTests {
    static let smol = TestAssets.model("smollm2-135m")

    /// Streaming hands out exactly the final text, piece by piece; greedy decoding of a chat turn
    /// ends at the model's end of turn; a seeded sampled run repeats itself.
    @Test(.enabled(if: TestAssets.has(smol)))
    func streamsTheTextItReturns() throws {
        let checkpoint = try Checkpoint.openGGUF(Self.smol)
        let tokenizer = try checkpoint.tokenizer()
        let decoder = try IncrementalDecoder.load(checkpoint, settings: DecodeSettings(), capacity: 128)
        let generator = TextGenerator(decoder: decoder, tokenizer: tokenizer, stopTokens: TextGenerator.defaultStopTokens(tokenizer))
        let layout = try ChatTemplate.detect(template: checkpoint.chatTemplate(), tokenizer: tokenizer)
        let prompt = tokenizer.encode(layout.render(user: "What is the capital of France?"), addSpecial: true)
        var pieces = [String]()
        let result = try generator.generate(prompt: prompt, maxTokens: 40, sampler: Sampler(temperature: 0)) { pieces.append($0) }
        #expect(pieces.joined() == result.text)
        #expect(result.stop == .endOfText && result.text.contains("Paris"), "\(result.text)")
        let a = try generator.generate(prompt: prompt, maxTokens: 12, sampler: Sampler(temperature: 0.9, seed: 3))
        let b = try generator.generate(prompt: prompt, maxTokens: 12, sampler: Sampler(temperature: 0.9, seed: 3))
        #expect(a.tokens == b.tokens)
        #expect(throws: GenerationError.emptyPrompt) { try generator.generate(prompt: [], maxTokens: 1, sampler: Sampler(temperature: 0)) }
    }
}
