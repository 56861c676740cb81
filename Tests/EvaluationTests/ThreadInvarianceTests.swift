import Foundation
import Testing
import Evaluation
import Kernels
import Transformer
import _TestSupport

/// `--threads` changes no bit of a forward pass: every product (f32 linears in fixed tiles over
/// single-threaded sgemm, bf16 linears, fused attention, the LM head by vocabulary tiles) cuts its
/// work by the shape, never by the thread count. WikiText-2 window losses of SmolLM2-135M with
/// 1, 2 and 3 threads, in both precisions, compared bit for bit.
@Suite(.serialized) struct ThreadInvarianceTests {
    static let smol = TestAssets.model("smollm2-135m")

    @Test(.enabled(if: TestAssets.has(smol, TestAssets.wikitext2Test)))
    func windowLossesAreTheSameForAnyThreadCount() throws {
        let checkpoint = try Checkpoint.openGGUF(Self.smol)
        let model = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: 300)
        let dataset = try PerplexityDataset.parse("wikitext2:\(TestAssets.wikitext2Test.path)", home: TestAssets.projectRoot)
        var precisions: [ComputePrecision] = [.f32]
        if ComputePrecision.bf16.unsupportedReason == nil { precisions.append(.bf16) }
        for precision in precisions {
            func losses(_ threads: Int) throws -> [Double] {
                // 300 tokens: tiles of 80 rows (not a multiple of 16 of the sequence), a partial
                // attention tile and a partial vocabulary tile.
                let evaluation = PerplexityEvaluation(sequenceLength: 300, maxWindows: 2, threads: ComputeThreads(threads),
                                                      precision: precision)
                return try evaluation.evaluate(model: model, tokenizer: try checkpoint.tokenizer(), dataset: dataset).windowLosses
            }
            let one = try losses(1)
            #expect(one.count == 2 && one.allSatisfy { $0.isFinite && $0 > 0 })
            for threads in [2, 3] {
                let other = try losses(threads)
                #expect(other.map(\.bitPattern) == one.map(\.bitPattern), "\(precision), \(threads) threads: \(other) vs \(one)")
            }
        }
    }
}
