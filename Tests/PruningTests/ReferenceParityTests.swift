import Foundation
import Testing
import Kernels
import Pruning
import Transformer
import _TestSupport

/// DLP and OWL allocations against an independent re-implementation of the released DLP code
/// (`scripts/reference/dlp_reference.py`: transformers on CPU, the same GGUF, the calibration
/// windows exported by `dlp calibration`), on SmolLM2-135M (`llama`, tied head) and
/// Qwen2.5-Coder-0.5B (`qwen2`: q/k/v biases, untied head, NeoX RoPE), 8 × 512 calibration tokens.
/// Fixtures: `Tests/Fixtures/pruning/reference-<model>-8x512*.json`.
///
/// Tolerances: both sides score fp32 activations of bit-identical weights; activations differ in
/// summation order only (max |Δlogit| ≈ 1e-4 at the output, see GoldenForwardTests), so block
/// statistics agree to about 1e-5 relative and the ratios, affine in normalised statistics, to
/// well below 1e-4. Outlier counts may move by a few weights sitting on the threshold.
@Suite struct ReferenceParityTests {
    struct Fixture: Decodable {
        struct Calibration: Decodable { var windows_sha256: String }
        struct Block: Decodable { var mean: Double; var median: Double; var owl_outlier_ratio: Double }
        struct Allocation: Decodable { var ratios: [Double] }
        var calibration: Calibration
        var blocks: [Block]
        var allocations: [String: Allocation]
    }

    static let c4 = TestAssets.data("c4.utf8")
    static let smol = TestAssets.model("smollm2-135m")
    static let qwen = TestAssets.model("qwen2.5-coder-0.5b")

    @Test(.enabled(if: TestAssets.has(smol, c4)))
    func smolLM2AllocationsMatchTheReference() throws {
        try checkAllocations(model: Self.smol, fixture: "pruning/reference-smollm2-135m-8x512.json")
    }

    /// The model on which DLP loses to uniform and OWL (docs/RESULTS.md): the ratios that lose are
    /// the released algorithm's.
    @Test(.enabled(if: TestAssets.has(qwen, c4)))
    func qwenAllocationsMatchTheReference() throws {
        try checkAllocations(model: Self.qwen, fixture: "pruning/reference-qwen2.5-coder-0.5b-8x512-wanda.json")
    }

    func checkAllocations(model url: URL, fixture path: String) throws {
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: TestAssets.fixture(path)))
        let checkpoint = try Checkpoint.openGGUF(url)
        let settings = CalibrationSettings(source: CalibrationSource(name: "c4", path: Self.c4.path), sampling: .stream,
                                           samples: 8, sequenceLength: 512, seed: 0)
        let set = try CalibrationSet(settings: settings, tokenizer: try checkpoint.tokenizer())
        #expect(set.windowsDigest == fixture.calibration.windows_sha256, "calibration windows differ from the fixture's")
        let model = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: 512)
        let statistics = try PruningPipeline(model: model, windows: set.windows, threads: ComputeThreads(2)).blockStatistics()
        #expect(statistics.count == fixture.blocks.count)
        for (l, (ours, theirs)) in zip(statistics, fixture.blocks).enumerated() {
            #expect(abs(ours.median / theirs.median - 1) < 1e-4, "block \(l) median \(ours.median) vs \(theirs.median)")
            #expect(abs(ours.mean / theirs.mean - 1) < 1e-4, "block \(l) mean \(ours.mean) vs \(theirs.mean)")
            #expect(abs(ours.outlierRatio - theirs.owl_outlier_ratio) < 2e-3, "block \(l) outliers \(ours.outlierRatio) vs \(theirs.owl_outlier_ratio)")
        }
        let allocations: [(String, any LayerwiseAllocation)] = [
            ("dlp_median", DLPAllocation(alpha: 0.15, statistic: .median)),
            ("dlp_mean", DLPAllocation(alpha: 0.15, statistic: .mean)),
            ("owl", OWLAllocation(outlierThreshold: 5, lambda: 0.08)),
        ]
        for (name, allocation) in allocations {
            let ours = try allocation.ratios(statistics, target: 0.7)
            let theirs = try #require(fixture.allocations[name]).ratios
            let worst = zip(ours, theirs).map { abs($0 - $1) }.max() ?? .nan
            #expect(worst < 1e-4, "\(name): max |Δ ratio| \(worst)")
            print("reference parity \(name) on \(path): max |Δ ratio| = \(worst)")
        }
    }
}
