import Foundation
import Jobs
import Pruning
import Testing
import _TestSupport
@testable import Experiments

/// A small real plan on SmolLM2-135M (two cells, 2 × 64 calibration tokens, one 64-token PTB
/// window, one cell recovered by two LoRA steps of 64 tokens): run with every job in this
/// process, then again with every job in a child `dlp job` process. Both give the same masks
/// and the same perplexities; a second run does nothing.
@Suite(.serialized) struct RealPlanTests {
    static let smol = TestAssets.model("smollm2-135m")
    static let c4 = TestAssets.data("c4.utf8")
    static let ptb = TestAssets.data("ptb/test.txt")

    static let plan = """
        {
          "name": "tiny",
          "calibration": {"samples": 2, "seqlen": 64, "seed": 0},
          "datasets": {"ptb": ""},
          "perplexity": {"seqlen": 64, "max_windows": 1},
          "dense": {"perplexity": ["ptb"]},
          "recovery": {"seqlen": 64, "batch_tokens": 64, "warmup": 0, "held_out": 1, "eval_every": 1},
          "grids": [{"models": ["smollm2-135m"], "methods": ["magnitude"], "allocations": ["uniform"],
                     "sparsities": [0.5], "perplexity": ["ptb"]},
                    {"models": ["smollm2-135m"], "methods": ["wanda"], "allocations": ["ramp"],
                     "sparsities": [0.5], "perplexity": ["ptb"], "recovery": {"tokens": [128], "lr": [0.001]}}]
        }
        """

    @Test(.enabled(if: TestAssets.has(smol, c4, ptb)))
    func planRunsTheSameInProcessAndInChildProcesses() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("real-plan-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let plan = try parsePlan(Self.plan, folder: folder)
        #expect(plan.cells.map(\.id) == ["magnitude-uniform-p50", "wanda-ramp-a0.15-p50"])
        let executable = TestAssets.dlpExecutable
        try #require(FileManager.default.isExecutableFile(atPath: executable.path), "no dlp executable at \(executable.path)")
        var collected = [ExperimentResults]()
        for (name, executor) in [("in-process", InProcessExecutor() as any ExperimentStepExecutor),
                                 ("child", ChildProcessExecutor(executable: executable))] {
            let runner = ExperimentRunner(plan: plan, directory: folder.appendingPathComponent(name))
            #expect(try runner.run(executor: executor) == 1 + 2 + 2 + 2,
                    "\(name): dense + two prunes + two measurements + a fine-tuning and its measurement")
            #expect(try runner.pendingSteps().isEmpty)
            let pruned = folder.appendingPathComponent("\(name)/smollm2-135m/wanda-ramp-a0.15-p50/pruned")
            #expect(!FileManager.default.fileExists(atPath: pruned.appendingPathComponent("model.gguf").path))
            let manifest = try ExperimentResults.readManifest(pruned.appendingPathComponent("manifest.json"))
            #expect(manifest.settings.allocation.name == "ramp" && manifest.settings.method == .wanda)
            #expect(abs(manifest.blocks.first!.requestedRatio - 0.35) < 1e-12 && abs(manifest.blocks.last!.requestedRatio - 0.65) < 1e-12)
            collected.append(try ExperimentResults.collect(plan: plan, directory: folder.appendingPathComponent(name)))
        }
        let (a, b) = (collected[0], collected[1])
        #expect(a.cells.count == 2 && b.cells.count == 2)
        // The recovery: two steps on C4 without the calibration windows; the adapter, applied to the
        // pruned model, moves its perplexity, the same in both runs; the masked merge keeps every zero.
        let recovered = try #require(a.cells.last?.recovery?.first), again = try #require(b.cells.last?.recovery?.first)
        #expect(recovered.id == "lora-qv-lr1e-3-t128" && recovered.tokensTrained == 128 && recovered.mergeKeepsZeros)
        let (before, after) = (try #require(a.cells.last?.perplexity["ptb"]?.perplexity), try #require(recovered.perplexity["ptb"]?.perplexity))
        #expect(abs(after - before) > 1e-4 * before, "the adapter changes nothing: \(before) → \(after)")
        #expect(abs(after - (again.perplexity["ptb"]?.perplexity ?? 0)) <= 1e-6 * after)
        let manifest = try ExperimentResults.decode(
            FinetuneManifest.self, from: folder.appendingPathComponent("child/smollm2-135m/wanda-ramp-a0.15-p50/lora-qv-lr1e-3-t128/manifest.json"))
        #expect(manifest.data.excludedTokens == 2 * 64, "the prune's calibration windows are held out")
        for (x, y) in zip(a.dense + a.cells, b.dense + b.cells) {
            #expect(x.id == y.id && x.measuredSparsity == y.measuredSparsity && x.blockSparsity == y.blockSparsity)
            let (p, q) = (try #require(x.perplexity["ptb"]?.perplexity), try #require(y.perplexity["ptb"]?.perplexity))
            #expect(abs(p - q) <= 1e-6 * p, "\(x.id): \(p) in process, \(q) in a child process")
        }
        // Pruning at 50% raises perplexity over the dense model's.
        #expect(a.cells.allSatisfy { ($0.perplexity["ptb"]?.perplexity ?? 0) > (a.dense.first?.perplexity["ptb"]?.perplexity ?? .infinity) })
    }
}
