import Foundation
import Testing
import Evaluation
import Kernels
import Transformer
import _TestSupport

/// The bf16 products on the real SmolLM2-135M: dense WikiText-2 perplexity within 0.5% of f32 on
/// the same windows (the bound; bf16 keeps 8 bits of mantissa, each product sums ≤ 1536
/// such terms in f32, and the rounding errors average out over thousands of predictions).
@Suite(.serialized) struct BF16PerplexityTests {
    static let smol = TestAssets.model("smollm2-135m")

    @Test(.enabled(if: ComputePrecision.bf16.unsupportedReason == nil, "this CPU has no AVX512_BF16: the bf16 kernels never run"), .enabled(if: TestAssets.has(smol, TestAssets.wikitext2Test)))
    func densePerplexityWithinHalfAPercent() throws {
        let checkpoint = try Checkpoint.openGGUF(Self.smol)
        let model = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: 1024)
        let dataset = try PerplexityDataset.parse("wikitext2:\(TestAssets.wikitext2Test.path)", home: TestAssets.projectRoot)
        func perplexity(_ precision: ComputePrecision) throws -> PerplexityResult {
            let evaluation = PerplexityEvaluation(sequenceLength: 1024, maxWindows: 4, threads: ComputeThreads(2), precision: precision)
            return try evaluation.evaluate(model: model, tokenizer: try checkpoint.tokenizer(), dataset: dataset)
        }
        let f32 = try perplexity(.f32), bf16 = try perplexity(.bf16)
        #expect(bf16.precision == .bf16 && f32.precision == .f32)
        let relative = abs(bf16.perplexity / f32.perplexity - 1)
        #expect(relative <= 0.005, "f32 \(f32.perplexity), bf16 \(bf16.perplexity): \(relative * 100)%")
        // Not the same numbers: the bf16 path really ran.
        #expect(bf16.windowLosses != f32.windowLosses)
    }
}
