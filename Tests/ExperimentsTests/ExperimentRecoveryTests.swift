import Foundation
import Jobs
import Testing
import Training
import Transformer
@testable import Experiments

/// LoRA recoveries in plans: parsing, the steps they add (fine-tune each cell, then measure the
/// adapter on the pruned model, which is kept until then), conflicts, results and tables.
@Suite struct ExperimentRecoveryTests {
    static let plan = """
        {
          "name": "r",
          "calibration": {"samples": 4, "seqlen": 64},
          "datasets": {"wikitext2": "data/wiki.test.raw"},
          "perplexity": {"seqlen": 128, "max_windows": 2},
          "dense": {"perplexity": ["wikitext2"]},
          "recovery": {"seqlen": 256, "batch_tokens": 1024, "warmup": 2, "dropout": 0, "keep_activations": false},
          "grids": [{"models": ["m"], "methods": ["wanda"], "allocations": ["uniform", "dlp"], "sparsities": [0.7],
                     "perplexity": ["wikitext2"],
                     "recovery": {"tokens": [250000, 500000], "masked": [true, false], "targets": ["q,v"], "lr": [0.0005]}}]
        }
        """

    func withFolder(_ body: (URL) throws -> Void) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("recovery-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try body(folder)
    }

    @Test func namesAndLabels() {
        let r = Recovery(tokens: 250_000, masked: false, targets: [.value, .query], learningRate: 5e-4)
        #expect(r.targets == [.query, .value])
        #expect(r.folder == "lora-qv-lr5e-4-t250k-unmasked")
        #expect(Recovery(tokens: 1_000_000, targets: TensorRole.linears, learningRate: 1e-3).folder == "lora-all-lr1e-3-t1M")
        #expect(Recovery(tokens: 12_345, targets: [.gate, .up], learningRate: 2.5e-4).folder == "lora-gate+up-lr2.5e-4-t12345")
        #expect(r.label(showTargets: false, showRate: false) == "0.25M unmasked")
        #expect(r.label(showTargets: true, showRate: true) == "0.25M qv lr 5e-4 unmasked")
        // The sentence above a table names the targets in words.
        #expect(Recovery.targetsPhrase("qv") == "q, v" && Recovery.targetsPhrase("gate+up") == "gate, up")
        #expect(Recovery.targetsPhrase("all") == "all seven linears (q, k, v, o, gate, up, down)")
        #expect(Recovery.targetsPhrase("q+x") == "q+x")
    }

    @Test func planCrossesTheRecoveryLists() throws {
        let plan = try parsePlan(Self.plan)
        #expect(plan.recovery.sequenceLength == 256 && plan.recovery.batchTokens == 1024 && plan.recovery.warmupSteps == 2)
        #expect(plan.recovery.dropout == 0 && !plan.recovery.keepsActivations && plan.recovery.rank == 8)
        let cell = try #require(plan.cells.first)
        #expect(cell.recoveries.map(\.folder) == ["lora-qv-lr5e-4-t250k", "lora-qv-lr5e-4-t250k-unmasked",
                                                  "lora-qv-lr5e-4-t500k", "lora-qv-lr5e-4-t500k-unmasked"])
        let job = cell.recoveries[1].job(model: "p", output: "o", settings: plan.recovery, resume: false, command: [])
        #expect(job.sequenceLength == 256 && job.batchTokens == 1024 && job.learningRate == 5e-4 && job.totalSteps == 245)
        #expect(!job.lora.masked && job.lora.dropout == 0 && job.lora.targets == [.query, .value] && job.evaluations.isEmpty)
    }

    @Test func badRecoveriesNameTheKey() throws {
        func error(_ recovery: String, planLevel: String = "") -> String {
            let text = """
                {"name": "r", "datasets": {"wikitext2": "w"}, \(planLevel)
                 "grids": [{"models": ["m"], "methods": ["wanda"], "allocations": ["uniform"], "sparsities": [0.7], \(recovery)}]}
                """
            do { _ = try parsePlan(text); return "" } catch { return "\(error)" }
        }
        #expect(error(#""recovery": {"masked": [true]}"#).contains("grids[0].recovery.tokens"))
        #expect(error(#""recovery": {"tokens": [1000], "targets": ["q,x"]}"#).contains("'x'"))
        #expect(error(#""recovery": {"tokens": [1000], "lr": [0]}"#).contains("grids[0].recovery.lr"))
        #expect(error(#""recovery": {"tokens": [1000], "rank": [4]}"#).contains("unknown key 'rank'"))
        #expect(error(#""recovery": {"tokens": [1000, 1000]}"#).contains("named twice"))
        #expect(error(#""recovery": {"tokens": [4096]}"#).contains("fewer than recovery.warmup 5"))
        #expect(error(#""weights": ["q4_0"], "recovery": {"tokens": [250000]}"#).contains("F32"))
        #expect(error(#""recovery": {"tokens": [250000]}"#, planLevel: #""recovery": {"seqlen": 512, "batch_tokens": 1000},"#)
            .contains("recovery.batch_tokens"))
        #expect(error(#""recovery": {"tokens": [250000]}"#, planLevel: #""recovery": {"schedule": "step"},"#).contains("linear or cosine or constant"))
        #expect(error(#""recovery": {"tokens": [250000]}"#).isEmpty)
    }

    @Test func stepsTrainThenMeasureTheAdapterOnTheKeptModel() throws {
        try withFolder { folder in
            let plan = try parsePlan(Self.plan, folder: folder)
            let results = folder.appendingPathComponent("results")
            let runner = ExperimentRunner(plan: plan, directory: results)
            let pending = try runner.pendingSteps()
            let uniform = "wanda-uniform-p70"
            #expect(pending.prefix(7).map { "\($0.cell) \($0.name)" } == [
                "dense wikitext2 perplexity", "\(uniform) prune", "\(uniform) wikitext2 perplexity",
                "\(uniform) fine-tune lora-qv-lr5e-4-t250k", "\(uniform)/lora-qv-lr5e-4-t250k wikitext2 perplexity",
                "\(uniform) fine-tune lora-qv-lr5e-4-t250k-unmasked", "\(uniform)/lora-qv-lr5e-4-t250k-unmasked wikitext2 perplexity"])
            #expect(pending.count == 1 + 2 * (2 + 4 * 2))
            guard case .finetune(let train) = pending[3].job, case .perplexity(let measure) = pending[4].job else {
                Issue.record("unexpected jobs"); return
            }
            let pruned = results.appendingPathComponent("m/\(uniform)/pruned").path
            #expect(train.model == pruned && train.outputURL.path == results.appendingPathComponent("m/\(uniform)/lora-qv-lr5e-4-t250k").path)
            #expect(!train.resume && train.command == ["dlp", "experiment", "r"])
            #expect(measure.model == pruned && measure.adapter?.path == train.outputURL.appendingPathComponent("adapter").path)
            #expect(measure.adapter?.mask == .auto)

            let tool = StubExecutor()
            try runner.run(executor: tool)
            #expect(tool.jobs.count == pending.count)
            let fm = FileManager.default
            #expect(!fm.fileExists(atPath: pruned + "/model.gguf"), "the model is deleted once every recovery is measured")
            #expect(try runner.pendingSteps().isEmpty)

            // Results: each cell lists its recoveries with their measurements and costs.
            let collected = try ExperimentResults.collect(plan: plan, directory: results)
            let cell = try #require(collected.cells.first { $0.id == uniform })
            #expect(cell.recovery?.map(\.id) == ["lora-qv-lr5e-4-t250k", "lora-qv-lr5e-4-t250k-unmasked",
                                                  "lora-qv-lr5e-4-t500k", "lora-qv-lr5e-4-t500k-unmasked"])
            let first = try #require(cell.recovery?.first)
            #expect(first.tokensTrained == 250_000 && first.mergeKeepsZeros && first.heldOutBefore == 6.5 && first.heldOutAfter == 6.0)
            #expect(first.perplexity["wikitext2"] != nil && cell.recovery?[1].mergeKeepsZeros == false)
            // Compute: 2 prunes of 2 s, 1 + 2 + 8 measurements of 2 s, 8 trainings of an hour.
            let expectedSeconds: Double = 2 * 2 + 11 * 2 + 8 * 3600
            #expect(collected.totalSeconds == expectedSeconds)
            #expect(collected.csv.contains(",lora-qv-lr5e-4-t250k/wikitext2_ppl,"))
            #expect(collected.csv.contains(",lora-qv-lr5e-4-t500k-unmasked/tokens_per_second,100"))
            #expect(collected.recoverySettings?.contains("LoRA r 8, α 16, dropout 0") == true)

            let markdown = ResultsDocument(title: "R", notes: "", sections: [.init(planPath: "r.json", results: collected)])
                .render(chartFolder: "c").markdown
            #expect(markdown.contains("| method | allocation | sparsity | before | 0.25M | 0.5M | 0.25M unmasked | 0.5M unmasked |"), "\(markdown)")
            #expect(markdown.contains("Compute of the finished steps of this plan: 8.0 h (prunes, fine-tuning and evaluations"))
            #expect(markdown.contains("4 × 256 tokens per step; seed 0; activations recomputed; adapters on q, v; lr 5e-4):"))
            // The DLP row (the stub's perplexities grow with each job, so uniform's are the bold ones).
            let dlp = try #require(collected.cells.first { $0.id == "wanda-dlp-a0.15-median-p70" })
            let before = try #require(dlp.perplexity["wikitext2"]?.perplexity)
            let after = try #require(dlp.recovery?.first?.perplexity["wikitext2"]?.perplexity)
            let dense = try #require(collected.dense.first?.perplexity["wikitext2"]?.perplexity)
            let closed = String(format: "%.0f%%", 100 * log(before / after) / log(before / dense))
            #expect(markdown.contains("| wanda | DLP | 70% | \(String(format: "%.2f", before)) | \(String(format: "%.2f", after)) (\(closed)) |"), "\(markdown)")
            #expect(markdown.contains("| \(uniform) | lora-qv-lr5e-4-t250k | 250000 | 1.50 | 1.00 | 100.0 | 2 | 2048 | yes | 6.500 → 6.000 |"))

            // A lost adapter measurement: prune again (the model was deleted), measure; no training.
            try fm.removeItem(at: results.appendingPathComponent("m/\(uniform)/lora-qv-lr5e-4-t500k/wikitext2-128-w2.json"))
            let again = StubExecutor()
            try runner.run(executor: again)
            #expect(again.jobs.map(\.kind) == ["prune", "perplexity"])

            // Results committed without the adapter: nothing to do while every measurement exists;
            // with one missing, the run is trained again before it is measured.
            let t500k = results.appendingPathComponent("m/\(uniform)/lora-qv-lr5e-4-t500k")
            try fm.removeItem(at: t500k.appendingPathComponent("adapter"))
            #expect(try runner.pendingSteps().isEmpty)
            try fm.removeItem(at: t500k.appendingPathComponent("wikitext2-128-w2.json"))
            let retrain = StubExecutor()
            try runner.run(executor: retrain)
            #expect(retrain.jobs.map(\.kind) == ["prune", "finetune", "perplexity"])
            #expect(fm.fileExists(atPath: t500k.appendingPathComponent("adapter/\(PEFTAdapter.weightsFileName)").path))

            // A recovery folder trained with other settings is a conflict.
            var other = plan
            other.recovery.rank = 16
            #expect(throws: ExperimentError.self) { try ExperimentRunner(plan: other, directory: results).pendingSteps() }
        }
    }

    @Test func unfinishedRunIsResumed() throws {
        try withFolder { folder in
            let plan = try parsePlan(Self.plan, folder: folder)
            let results = folder.appendingPathComponent("results")
            let partial = results.appendingPathComponent("m/wanda-uniform-p70/lora-qv-lr5e-4-t250k.partial")
            try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true)
            try Data().write(to: partial.appendingPathComponent(FinetuneCheckpoint.fileName))
            let steps = try ExperimentRunner(plan: plan, directory: results).pendingSteps()
            let resumed = steps.compactMap { step -> FinetuneJob? in if case .finetune(let j) = step.job { return j } else { return nil } }
            #expect(resumed.map(\.resume) == [true] + Array(repeating: false, count: 7))
        }
    }
}
