import Foundation
import Jobs
import Testing
import Transformer
import _TestSupport

/// `dlp perplexity`, `dlp eval` and `dlp generate` refuse, before decoding anything, a run whose
/// memory estimate (``InferenceMemoryEstimate``) exceeds 90% of the machine's memory, as `dlp
/// prune` does with ``MemoryEstimate``: a usage error naming the estimate and the setting to lower.
@Suite struct MemoryRefusalTests {
    static let smol = TestAssets.model("smollm2-135m")

    /// The job's run must throw `insufficientMemory` naming `part` and `remedy`.
    static func expectRefusal(part: String, remedy: String, _ run: () throws -> Void) {
        do {
            try run()
            Issue.record("the run was not refused")
        } catch let error as JobError {
            guard case .insufficientMemory = error else { Issue.record("\(error)"); return }
            #expect(error.isUsageError)
            #expect(error.description.contains(part) && error.description.hasSuffix(remedy), "\(error)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test(.enabled(if: TestAssets.has(smol))) func perplexityWithAHugeWindowIsRefused() {
        let job = PerplexityJob(model: Self.smol.path, dataset: .text(URL(fileURLWithPath: "/nonexistent")), sequenceLength: 100_000_000)
        Self.expectRefusal(part: "forward scratch", remedy: "lower --seqlen") { _ = try job.run() }
    }

    @Test(.enabled(if: TestAssets.has(smol))) func zeroShotWithAHugeMaxLengthIsRefused() {
        let job = ZeroShotJob(model: Self.smol.path, tasks: [.piqa], dataDirectory: "/nonexistent", maxLength: 100_000_000)
        Self.expectRefusal(part: "forward scratch", remedy: "lower --max-length") { _ = try job.run() }
    }

    @Test(.enabled(if: TestAssets.has(smol))) func generationWithAHugeCacheIsRefused() {
        let job = GenerateJob(model: Self.smol.path, prompt: "Hello", context: 1_000_000_000)
        Self.expectRefusal(part: "key/value cache", remedy: "lower --context or --max-tokens") { _ = try job.run() }
    }

    /// The estimates grow with what they count: the cache with positions, the scratch with the
    /// square of the window; the default settings on SmolLM2-135M stay under 2 GiB.
    @Test(.enabled(if: TestAssets.has(smol))) func estimatesScaleWithTheirSettings() throws {
        let c = try Checkpoint.open(Self.smol.path).configuration
        let small = InferenceMemoryEstimate.generation(configuration: c, capacity: 1000, weightBytesPerParameter: 4)
        let large = InferenceMemoryEstimate.generation(configuration: c, capacity: 2000, weightBytesPerParameter: 4)
        // Two key/value rows of K·d floats per layer and position.
        #expect(large.workingSet - small.workingSet == 1000 * 2 * c.layerCount * c.keyValueHeadCount * c.headDimension * 4
                + 2 * 1000 * c.headDimension * 4)
        let evaluation = InferenceMemoryEstimate.evaluation(configuration: c, sequenceLength: 2048, activationBudget: 2 << 30)
        #expect(evaluation.total < 4 << 30 && small.total < 2 << 30, "\(evaluation.total) \(small.total)")
        let absurd = InferenceMemoryEstimate.evaluation(configuration: c, sequenceLength: Int.max / 2, activationBudget: 0)
        #expect(absurd.total > 1 << 60)
    }

    /// The command line: exit 64 with the message, before the model is decoded.
    @Test(.enabled(if: TestAssets.has(smol))) func commandLineRefusesWithUsageExit() throws {
        let (status, text) = runCapturingStandardError(TestAssets.dlpExecutable.path,
                                                       ["generate", Self.smol.path, "--prompt", "Hello", "--context", "1000000000"])
        #expect(status == 64, "\(text)")
        #expect(text.contains("key/value cache") && text.contains("lower --context or --max-tokens"), "\(text)")
    }
}
