import Foundation
import Jobs
import Pruning
import Testing
import Training
@testable import Experiments

/// Stands in for running jobs: every job it is handed goes through its JSON form first (what a
/// child process receives), then a prune writes a manifest (and model.gguf) from the job's typed
/// settings, a perplexity job a result whose perplexity encodes the call count, a zero-shot job a
/// report. No flags are assembled or parsed.
final class StubExecutor: ExperimentStepExecutor {
    struct Failure: Error {}
    var jobs = [Job]()
    var fails: (Job) -> Bool = { _ in false }

    func run(_ job: Job, result: URL?) throws {
        let decoded = try JSONDecoder().decode(Job.self, from: try JSONEncoder().encode(job))
        #expect(decoded == job, "a job changed on its way through JSON")
        jobs.append(decoded)
        if fails(decoded) { throw Failure() }
        switch decoded {
        case .prune(let j):
            let out = j.outputURL
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            let blocks = (0..<3).map { PruningManifest.BlockOutcome(block: $0, requestedRatio: j.target + Double($0 - 1) * 0.01,
                                                                      measuredSparsity: j.target, matrices: [], statistic: nil, notes: []) }
            let manifest = PruningManifest(
                tool: "stub", createdAt: "now", command: j.command,
                model: .init(path: j.model, format: .gguf, sha256: "0", architecture: .llama, layerCount: 3, prunableParameters: 300),
                settings: .init(method: j.method, allocation: j.allocation, targetSparsity: j.target, pattern: j.pattern, threads: 1,
                                 quantization: j.quantization),
                calibration: .init(settings: j.calibration, sourceSHA256: "s", windowsSHA256: "w"),
                allocationCacheHit: false, allocationCacheKey: nil, blocks: blocks, overallSparsity: j.target, evaluation: [],
                timings: ["total": 2, "pruning pass": 1], peakResidentBytes: 1 << 20,
                outputs: [.init(file: "model.gguf", bytes: 1000)], ggufLinears: .init(type: j.exports.ggufType, fallbacks: [:]))
            try JSONEncoder().encode(manifest).write(to: out.appendingPathComponent("manifest.json"))
            try Data("gguf".utf8).write(to: out.appendingPathComponent("model.gguf"))
        case .convert(let j):
            // A prune output's manifest copied with the new type; a plain model gets no manifest.
            let out = j.destinationURL
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            let model = j.directoryURL.appendingPathComponent("model.gguf")
            try #require(j.directory == "m" || FileManager.default.fileExists(atPath: model.path), "converting from a deleted model")
            let bytes = (j.ggufType == .q4_0 ? 3 : 5) << 20
            try Data("gguf-\(j.ggufType.rawValue)".utf8).write(to: out.appendingPathComponent("model.gguf"))
            if j.directory != "m" {
                var manifest = try JSONDecoder().decode(PruningManifest.self, from: Data(contentsOf: j.directoryURL.appendingPathComponent("manifest.json")))
                manifest.ggufLinears = .init(type: j.ggufType, fallbacks: [:])
                manifest.outputs = [.init(file: "model.gguf", bytes: bytes)]
                try JSONEncoder().encode(manifest).write(to: out.appendingPathComponent("manifest.json"))
            } else {
                try Data(#"{"outputs": [{"file": "model.gguf", "bytes": \#(bytes * 2)}]}"#.utf8).write(to: try #require(result))
            }
        case .perplexity(let j):
            let json = """
                {"protocol": "p", "dataset": "\(j.dataset.name)", "path": "/d", "assembly": "a", "model": "\(j.model)",
                 "textTokens": 100, "sequenceLength": \(j.sequenceLength), "windows": 2, "scoredPredictions": 10,
                 "meanNegativeLogLikelihood": 1, "perplexity": \(Double(jobs.count) + 10), "windowLosses": [1, 1],
                 "tokenizeSeconds": 0.5, "forwardSeconds": 1.5, "tokensPerSecond": 100, "threads": 1}
                """
            try Data(json.utf8).write(to: try #require(result))
        case .zeroshot:
            let json = """
                {"model": "m", "tasks": [{"task": "boolq", "split": "validation", "path": "/b", "items": 5, "acc": 0.6, "accStderr": 0.1,
                 "accNorm": 0.6, "accNormStderr": 0.1, "paperMetric": "acc", "requests": 10, "seconds": 1, "itemsPerSecond": 5}],
                 "paperMeanDefinition": "d", "limit": 5, "maxLength": 2048, "threads": 1, "seconds": 1}
                """
            try Data(json.utf8).write(to: try #require(result))
        case .finetune(let j):
            // A recovery: the pruned model must exist; the manifest records the job, a speed and a held-out loss.
            try #require(FileManager.default.fileExists(atPath: URL(fileURLWithPath: j.model).appendingPathComponent("model.gguf").path),
                         "fine-tuning a deleted model")
            let out = j.outputURL
            try FileManager.default.createDirectory(at: out.appendingPathComponent("adapter"), withIntermediateDirectories: true)
            try Data("stub".utf8).write(to: out.appendingPathComponent("adapter/\(PEFTAdapter.weightsFileName)"))
            func json(_ value: some Encodable) throws -> Any { try JSONSerialization.jsonObject(with: try JSONEncoder().encode(value)) }
            let data: [String: Any] = [
                "source": "c4", "path": "/c4", "sha256": "c", "documents": 10, "documentsExcluded": 0, "streamTokens": 1000,
                "exclusion": "none", "excludedSlots": [Int](), "excludedTokens": 0, "sequenceLength": j.sequenceLength,
                "trainingWindows": 10, "trainingTokens": 800, "heldOutOffsets": [Int](), "heldOutTokens": 0, "unusedTokens": 0]
            let manifest: [String: Any] = [
                "tool": "stub", "createdAt": "now", "command": j.command,
                "model": ["path": j.model, "format": "gguf", "sha256": "0", "architecture": "llama", "layerCount": 3],
                "data": data, "settings": try json(j), "hyperparameters": try json(j.hyperparameters), "trainableParameters": 8,
                "tokensTrained": j.tokens, "predictionsTrained": j.tokens, "epochs": 1.5, "steps": [Any](),
                "heldOut": [["step": 0, "loss": 6.5], ["step": j.totalSteps, "loss": 6.0]], "resumedAt": [Int](), "evaluation": [Any](),
                "mergeKeepsZeros": j.lora.masked, "zeros": [Any](), "threads": 2, "tokensPerSecond": 100.0,
                "timings": ["training": 3600.0, "total": 3700.0], "peakResidentBytes": 2 << 30, "outputs": [Any](), "notes": [String]()]
            try JSONSerialization.data(withJSONObject: manifest).write(to: out.appendingPathComponent("manifest.json"))
        }
    }
}

@Suite struct ExperimentRunnerTests {
    func withFolder(_ body: (URL) throws -> Void) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("experiment-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try body(folder)
    }

    @Test func finishedPlanDoesNoWorkAndGivesTheSameResults() throws {
        try withFolder { folder in
            let plan = try parsePlan(samplePlan, folder: folder)
            let runner = ExperimentRunner(plan: plan, directory: folder.appendingPathComponent("results"))
            let tool = StubExecutor()
            let pending = try runner.pendingSteps()
            // dense: wikitext2 + zero-shot; 11 cells pruned; measurements: 8 + 3 ptb + wanda-uniform-p70 also ptb,
            // zero-shot on the 4 cells of the second grid.
            #expect(pending.filter { $0.name == "prune" }.count == 11)
            #expect(pending.count == 2 + 11 + 8 + 4 + 4)
            let ran = try runner.run(executor: tool)
            #expect(ran == pending.count)
            #expect(tool.jobs.count == pending.count)
            #expect(tool.jobs == pending.map(\.job))
            let csv = try String(contentsOf: folder.appendingPathComponent("results/results.csv"), encoding: .utf8)
            // Pruned models are deleted once measured; manifests stay.
            let cell = folder.appendingPathComponent("results/m/wanda-dlp-a0.1-mean-p70/pruned")
            #expect(!FileManager.default.fileExists(atPath: cell.appendingPathComponent("model.gguf").path))
            #expect(FileManager.default.fileExists(atPath: cell.appendingPathComponent("manifest.json").path))

            // Again: nothing to do, same CSV.
            let again = StubExecutor()
            #expect(try runner.pendingSteps().isEmpty)
            #expect(try runner.run(executor: again) == 0)
            #expect(again.jobs.isEmpty)
            #expect(try String(contentsOf: folder.appendingPathComponent("results/results.csv"), encoding: .utf8) == csv)

            let results = try ExperimentResults.collect(plan: plan, directory: folder.appendingPathComponent("results"))
            #expect(results.cells.count == 11)
            #expect(results.dense.first?.zeroshot["boolq"]?.acc == 0.6)
            let entry = try #require(results.cells.first { $0.id == "wanda-uniform-p70" })
            #expect(Set(entry.perplexity.keys) == ["wikitext2", "ptb"])
            #expect(entry.ratios?.count == 3)
            #expect(csv.contains("grid,m,wanda-uniform-p70,wanda,uniform,,unstructured,0.7,,0.7,ptb_ppl,"))
        }
    }

    @Test func lostMeasurementRerunsOnlyWhatItNeeds() throws {
        try withFolder { folder in
            let plan = try parsePlan(samplePlan, folder: folder)
            let runner = ExperimentRunner(plan: plan, directory: folder.appendingPathComponent("results"))
            try runner.run(executor: StubExecutor())
            try FileManager.default.removeItem(at: folder.appendingPathComponent("results/m/magnitude-uniform-p50/wikitext2-128-w2.json"))
            let tool = StubExecutor()
            try runner.run(executor: tool)
            // The pruned model was deleted, so the cell is pruned again, then measured.
            #expect(tool.jobs.map(\.kind) == ["prune", "perplexity"])
            #expect(tool.jobs[1].model.hasSuffix("magnitude-uniform-p50/pruned"))
        }
    }

    @Test func failedStepStopsAndKeepsFinishedOnes() throws {
        try withFolder { folder in
            let plan = try parsePlan(samplePlan, folder: folder)
            let runner = ExperimentRunner(plan: plan, directory: folder.appendingPathComponent("results"))
            let tool = StubExecutor()
            tool.fails = { if case .prune(let j) = $0 { return j.method == .magnitude } else { return false } }
            #expect(throws: ExperimentError.self) { try runner.run(executor: tool) }
            let before = try runner.pendingSteps().count
            #expect(before > 0)
            let second = StubExecutor()
            try runner.run(executor: second)
            #expect(second.jobs.count == before)
            #expect(!second.jobs.contains {
                if case .prune(let j) = $0 { return j.method == .wanda && j.allocation.name == "uniform" && j.pattern == .unstructured && j.target == 0.5 }
                return false
            })
        }
    }

    @Test func folderWithOtherSettingsIsAnError() throws {
        try withFolder { folder in
            let plan = try parsePlan(samplePlan, folder: folder)
            let runner = ExperimentRunner(plan: plan, directory: folder.appendingPathComponent("results"))
            try runner.run(executor: StubExecutor())
            var changed = plan
            changed.calibration.samples = 8
            #expect {
                try ExperimentRunner(plan: changed, directory: folder.appendingPathComponent("results")).pendingSteps()
            } throws: { error in
                guard case .conflictingCell = error as? ExperimentError else { return false }
                return true
            }
        }
    }

    /// A grid with weight formats: each cell is pruned once in F32 and converted to every
    /// round-to-nearest type (no second prune), joint cells are pruned with the quantization, the
    /// unpruned model is converted too; models are deleted once measured but the F32 base only
    /// after its conversions; a lost measurement of a converted cell prunes the base again and
    /// converts; the page gets a table per format with file sizes.
    static let weightsPlan = """
        {
          "name": "q",
          "calibration": {"samples": 4, "seqlen": 64},
          "datasets": {"wikitext2": "data/wiki.test.raw"},
          "perplexity": {"seqlen": 128, "max_windows": 2},
          "dense": {"perplexity": ["wikitext2"], "weights": ["q8_0"]},
          "grids": [{"models": ["m"], "methods": ["wanda"], "allocations": ["uniform", "dlp"], "sparsities": [0.7],
                     "weights": ["f16", "q4_0", "q4_0-joint"], "perplexity": ["wikitext2"]}]
        }
        """

    @Test func weightFormatsConvertInsteadOfPruningAgain() throws {
        try withFolder { folder in
            let plan = try parsePlan(Self.weightsPlan, folder: folder)
            #expect(plan.cells.map(\.id) == ["wanda-uniform-p70-f16", "wanda-uniform-p70-q4_0", "wanda-uniform-p70-q4_0-joint",
                                             "wanda-dlp-a0.15-median-p70-f16", "wanda-dlp-a0.15-median-p70-q4_0", "wanda-dlp-a0.15-median-p70-q4_0-joint"])
            let results = folder.appendingPathComponent("results")
            let runner = ExperimentRunner(plan: plan, directory: results)
            let pending = try runner.pendingSteps()
            #expect(pending.map { "\($0.cell) \($0.name)" } == [
                "dense wikitext2 perplexity", "dense-q8_0 convert q8_0", "dense-q8_0 wikitext2 perplexity",
                "wanda-uniform-p70 prune", "wanda-uniform-p70-f16 convert f16", "wanda-uniform-p70-f16 wikitext2 perplexity",
                "wanda-uniform-p70-q4_0 convert q4_0", "wanda-uniform-p70-q4_0 wikitext2 perplexity",
                "wanda-uniform-p70-q4_0-joint prune", "wanda-uniform-p70-q4_0-joint wikitext2 perplexity",
                "wanda-dlp-a0.15-median-p70 prune", "wanda-dlp-a0.15-median-p70-f16 convert f16", "wanda-dlp-a0.15-median-p70-f16 wikitext2 perplexity",
                "wanda-dlp-a0.15-median-p70-q4_0 convert q4_0", "wanda-dlp-a0.15-median-p70-q4_0 wikitext2 perplexity",
                "wanda-dlp-a0.15-median-p70-q4_0-joint prune", "wanda-dlp-a0.15-median-p70-q4_0-joint wikitext2 perplexity"])
            guard case .prune(let joint) = pending[8].job, case .prune(let base) = pending[3].job,
                  case .convert(let convert) = pending[6].job else { Issue.record("unexpected jobs"); return }
            #expect(joint.quantization == .q4_0 && joint.exports.ggufType == .q4_0)
            #expect(base.quantization == nil && base.exports.ggufType == .f32)
            #expect(convert.ggufType == .q4_0 && convert.directory == base.output && convert.output?.hasSuffix("wanda-uniform-p70-q4_0/pruned") == true)
            try runner.run(executor: StubExecutor())
            let fm = FileManager.default
            for cell in ["wanda-uniform-p70", "wanda-uniform-p70-q4_0", "wanda-uniform-p70-q4_0-joint"] {
                #expect(!fm.fileExists(atPath: results.appendingPathComponent("m/\(cell)/pruned/model.gguf").path), "\(cell)")
                #expect(fm.fileExists(atPath: results.appendingPathComponent("m/\(cell)/pruned/manifest.json").path), "\(cell)")
            }
            #expect(!fm.fileExists(atPath: results.appendingPathComponent("m/dense-q8_0/model/model.gguf").path))
            #expect(try runner.pendingSteps().isEmpty)

            // A lost measurement of a converted cell: prune the base again, convert, measure.
            try fm.removeItem(at: results.appendingPathComponent("m/wanda-dlp-a0.15-median-p70-q4_0/wikitext2-128-w2.json"))
            let tool = StubExecutor()
            try runner.run(executor: tool)
            #expect(tool.jobs.map(\.kind) == ["prune", "convert", "perplexity"])
            #expect(!fm.fileExists(atPath: results.appendingPathComponent("m/wanda-dlp-a0.15-median-p70/pruned/model.gguf").path))

            // A converted folder whose manifest records another type is a conflict.
            var other = plan
            other.grids[0].weights = [.exported(.q8_0)]
            let moved = results.appendingPathComponent("m/wanda-uniform-p70-q8_0")
            try fm.copyItem(at: results.appendingPathComponent("m/wanda-uniform-p70-q4_0"), to: moved)
            #expect(throws: ExperimentError.self) { try ExperimentRunner(plan: other, directory: results).pendingSteps() }
            try fm.removeItem(at: moved)

            let collected = try ExperimentResults.collect(plan: plan, directory: results)
            #expect(collected.dense.map(\.id) == ["dense", "dense-q8_0"])
            #expect(collected.dense.last?.modelBytes == 10 << 20 && collected.dense.last?.weights == "q8_0")
            #expect(collected.cells.first { $0.id == "wanda-uniform-p70-q4_0" }?.modelBytes == 3 << 20)
            // Compute: four prunes of 2 s (two F32 bases, counted once for their conversions, two
            // joint) and eight measurements of 2 s.
            #expect(collected.totalSeconds == 4 * 2 + 8 * 2)
            let markdown = ResultsDocument(title: "R", notes: "", sections: [.init(planPath: "q.json", results: collected)])
                .render(chartFolder: "c").markdown
            #expect(markdown.contains("| method | allocation | sparsity | F16 | Q4_0 | Q4_0 joint | Q8_0 |") == false)
            #expect(markdown.contains("| method | allocation | sparsity | Q8_0 | F16 | Q4_0 | Q4_0 joint |") == false)
            #expect(markdown.contains("| method | allocation | sparsity | F16 | Q8_0 | Q4_0 joint | Q4_0 |") == false)
            let header = "| method | allocation | sparsity | F16 | Q8_0 | Q4_0 | Q4_0 joint |"
            #expect(markdown.components(separatedBy: header).count - 1 == 2, "\(markdown)")   // perplexity and size tables
            #expect(markdown.contains("| wanda | DLP | 70% | 5.0 |  | 3.0 | 0.0 |"))   // sizes in MiB
            #expect(markdown.contains("| dense | — | 0% |  | 10.0 |  |  |"))
            #expect(!markdown.contains("No pruned cell"))
            // The runs table: each prune once (the F32 bases by their own name, the joint cells).
            #expect(markdown.contains("| wanda-uniform-p70 | 0.7000 |") && markdown.contains("| wanda-uniform-p70-q4_0-joint | 0.7000 |"))
            #expect(!markdown.contains("| wanda-uniform-p70-f16 | 0.7000 |"))
            #expect(!markdown.contains("| method | allocation | 70% |"))   // no F32 cell: no standard table rows
        }
    }

    @Test func documentHasTablesAndCharts() throws {
        try withFolder { folder in
            let plan = try parsePlan(samplePlan, folder: folder)
            let runner = ExperimentRunner(plan: plan, directory: folder.appendingPathComponent("results"))
            try runner.run(executor: StubExecutor())
            let results = try ExperimentResults.collect(plan: plan, directory: folder.appendingPathComponent("results"))
            let doc = ResultsDocument(title: "R", notes: "notes here", sections: [.init(planPath: "plan.json", results: results)])
                .render(chartFolder: "charts")
            #expect(doc.markdown.contains("| method | allocation | 50% | 70% | 2:4 |"))
            #expect(doc.markdown.contains("| wanda | DLP (α=0.1, mean) |"))
            #expect(doc.markdown.contains("notes here"))
            // One perplexity-vs-sparsity chart per pruner with two sparsities, one per-block profile.
            #expect(doc.charts.map(\.name).sorted() == ["grid-m-magnitude-wikitext2.svg", "grid-m-profile.svg", "grid-m-wanda-wikitext2.svg"])
            for chart in doc.charts {
                #expect(chart.svg.hasPrefix("<svg"))
                #expect(chart.svg.components(separatedBy: "<polyline").count - 1 >= 2)
            }
        }
    }

    @Test func modelWithOnlyItsDenseResultsSaysSo() throws {
        try withFolder { folder in
            let plan = try parsePlan(samplePlan, folder: folder)
            try ExperimentRunner(plan: plan, directory: folder.appendingPathComponent("results")).run(executor: StubExecutor())
            var results = try ExperimentResults.collect(plan: plan, directory: folder.appendingPathComponent("results"))
            let dense = try #require(results.dense.first?.perplexity["wikitext2"]?.perplexity)
            results.cells = []
            let markdown = ResultsDocument(title: "R", notes: "", sections: [.init(planPath: "a.json", results: results)])
                .render(chartFolder: "c").markdown
            #expect(markdown.contains("Dense perplexity: WikiText-2 \(String(format: "%.2f", dense))."))
            #expect(markdown.contains("No pruned cell of this model has finished yet."))
            #expect(!markdown.contains("| method | allocation |"))
        }
    }

    @Test func cellsOfSeveralPlansAreShownSideBySide() throws {
        try withFolder { folder in
            let plan = try parsePlan(samplePlan, folder: folder)
            try ExperimentRunner(plan: plan, directory: folder.appendingPathComponent("results")).run(executor: StubExecutor())
            let results = try ExperimentResults.collect(plan: plan, directory: folder.appendingPathComponent("results"))
            let single = ResultsDocument(title: "R", notes: "", sections: [.init(planPath: "a.json", results: results)])
            #expect(!single.render(chartFolder: "c").markdown.contains("different protocols"))
            var full = results
            full.plan = "full"
            full.calibration = "c4 stream 128×2048 seed 0"
            full.perplexityMaxWindows = nil
            full.cells = full.cells.filter { $0.method == .wanda }
            let markdown = ResultsDocument(title: "R", notes: "", sections: [.init(planPath: "a.json", results: results),
                                                                             .init(planPath: "b.json", results: full)])
                .render(chartFolder: "c").markdown
            let lines = markdown.components(separatedBy: "\n")
            guard let start = lines.firstIndex(of: "## The same cells under different protocols") else {
                Issue.record("no side-by-side section")
                return
            }
            guard let wiki = lines[start...].firstIndex(of: "WikiText-2 perplexity, m:") else {
                Issue.record("no WikiText-2 table in the side-by-side section")
                return
            }
            let table = lines[(wiki + 2)...].prefix { $0.hasPrefix("|") }.filter { !$0.hasPrefix("|---") }
            #expect(table.first?.contains("grid (c4 stream") == true && table.first?.contains("full (c4 stream 128×2048 seed 0; all windows)") == true)
            // The dense row and every wanda cell, in both columns; the other pruners ran in one plan only.
            let rows = table.dropFirst()
            #expect(rows.first?.hasPrefix("| dense |") == true)
            #expect(rows.dropFirst().count == results.cells.filter { $0.method == .wanda && $0.perplexity["wikitext2"] != nil }.count)
            for row in rows {
                let values = row.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
                #expect(values.count == 7 && !values[4].isEmpty && values[4] == values[5], "\(row)")
                #expect(!row.contains("magnitude"))
            }

            // A second model run by two other plans gets its own table with only those plans' columns.
            func renamed(_ r: ExperimentResults, plan: String, model: String) -> ExperimentResults {
                var r = r
                r.plan = plan
                r.dense = r.dense.map { var e = $0; e.model = model; return e }
                r.cells = r.cells.map { var e = $0; e.model = model; return e }
                return r
            }
            let two = ResultsDocument(title: "R", notes: "", sections: [
                .init(planPath: "a.json", results: results), .init(planPath: "b.json", results: full),
                .init(planPath: "c.json", results: renamed(results, plan: "seed1", model: "n")),
                .init(planPath: "d.json", results: renamed(full, plan: "seed2", model: "n")),
            ]).render(chartFolder: "c").markdown.components(separatedBy: "\n")
            for (model, plans, others) in [("m", ["grid (", "full ("], ["seed1", "seed2"]), ("n", ["seed1 (", "seed2 ("], ["grid", "full"])] {
                let title = try #require(two.firstIndex(of: "WikiText-2 perplexity, \(model):"), "no table for \(model)")
                let header = two[title + 2]
                #expect(plans.allSatisfy(header.contains) && !others.contains(where: header.contains), "\(model): \(header)")
            }
        }
    }
}

@Suite struct LineChartTests {
    func width(_ svg: String) -> Double? {
        guard let range = svg.range(of: #"width="(\d+)""#, options: .regularExpression) else { return nil }
        return Double(svg[range].dropFirst(7).dropLast())
    }

    @Test func legendLabelsFitInTheImage() throws {
        let points = [(x: 0.0, y: 1.0), (x: 1.0, y: 2.0)]
        let short = LineChart(title: "t", xLabel: "x", yLabel: "y", series: [.init(label: "uniform", points: points)])
        #expect(width(short.svg) == 640)
        let label = "DLP (α=0.15, median) with a longer label"
        let long = LineChart(title: "t", xLabel: "x", yLabel: "y", series: [.init(label: label, points: points)])
        let svg = long.svg
        let w = try #require(width(svg))
        // The legend text starts 40 px right of a 400 px plot that starts at 70 px.
        #expect(70 + 400 + 40 + 7 * Double(label.count) <= w)
    }
}
