import Foundation
import Jobs
import Pruning
import TensorIO
import Testing
@testable import Experiments

/// Parses `text` as a plan file in a fresh temporary folder.
func parsePlan(_ text: String, folder: URL = URL(fileURLWithPath: "/plans")) throws -> ExperimentPlan {
    let value = try JSONValue.parse([UInt8](text.utf8))
    return try ExperimentPlan.parse(value, path: "plan.json", folder: folder)
}

let samplePlan = """
    {
      "name": "grid",
      "calibration": {"samples": 4, "seqlen": 64, "seed": 3},
      "datasets": {"wikitext2": "data/wiki.test.raw", "ptb": ""},
      "perplexity": {"seqlen": 128, "max_windows": 2},
      "zeroshot": {"tasks": "boolq,rte", "limit": 5},
      "dense": {"perplexity": ["wikitext2"], "zeroshot": true},
      "grids": [
        {"models": ["m"], "methods": ["wanda", "magnitude"], "allocations": ["uniform", {"name": "dlp", "alpha": 0.1, "statistic": "mean"}],
         "sparsities": [0.5, 0.7], "perplexity": ["wikitext2"]},
        {"models": ["m"], "methods": ["wanda"], "allocations": ["uniform", "owl"], "sparsities": [0.7], "patterns": ["unstructured", "2:4"],
         "perplexity": ["ptb"], "zeroshot": true}
      ]
    }
    """

@Suite struct ExperimentPlanTests {
    @Test func expandsGridsAndMergesRepeatedCells() throws {
        let plan = try parsePlan(samplePlan)
        #expect(plan.calibration.source.name == "c4" && plan.calibration.source.path.hasSuffix("data/c4.utf8"))
        #expect(plan.calibration.sampling == .stream && plan.calibration.samples == 4 && plan.calibration.sequenceLength == 64
                && plan.calibration.seed == 3)
        #expect(plan.datasets["wikitext2"] == "wikitext2:/plans/data/wiki.test.raw")
        #expect(plan.datasets["ptb"] == "ptb")
        let cells = plan.cells
        // 2 methods × 2 allocations × 2 sparsities, then wanda × {uniform, owl} × {70%, 2:4} less the repeated wanda-uniform-p70.
        #expect(cells.count == 8 + 3)
        #expect(cells.map(\.id).prefix(4) == ["wanda-uniform-p50", "wanda-uniform-p70", "wanda-dlp-a0.1-mean-p50", "wanda-dlp-a0.1-mean-p70"])
        let merged = try #require(cells.first { $0.id == "wanda-uniform-p70" })
        #expect(merged.evaluations == .init(perplexity: ["wikitext2", "ptb"], zeroshot: true))
        let nm = try #require(cells.first { $0.id == "wanda-uniform-2of4" })
        #expect(nm.target == 0.5)
        #expect(nm.columnLabel == "2:4")
        #expect(cells.contains { $0.id == "wanda-owl-M5-l0.08-p70" })
        #expect(plan.measurements(merged.evaluations).map(\.fileName) == ["wikitext2-128-w2.json", "ptb-128-w2.json", "zeroshot-boolq+rte-limit5.json"])
    }

    @Test func pruneJobsCarryEverySettingTyped() throws {
        let plan = try parsePlan(samplePlan)
        let cell = try #require(plan.cells.first { $0.id == "wanda-dlp-a0.1-mean-p70" })
        let job = cell.pruneJob(calibration: plan.calibration, output: "/out")
        #expect(job.model == "m" && job.method == .wanda && job.target == 0.7 && job.pattern == .unstructured)
        #expect(job.allocation == (try Allocation(name: "dlp", parameters: ["alpha": "0.1", "statistic": "mean"])))
        #expect(job.calibration == plan.calibration)
        #expect(job.exports.formats == [.gguf] && job.replaceExisting && job.output == "/out")
        let nm = try #require(plan.cells.first { $0.id == "wanda-owl-M5-l0.08-2of4" })
        let nmJob = nm.pruneJob(calibration: plan.calibration, output: "/o")
        #expect(nmJob.pattern == .nm(zeros: 2, group: 4) && nmJob.target == 0.5)
        // A job survives the trip through its JSON file unchanged.
        for j in [job, nmJob] {
            let data = try JSONEncoder().encode(Job.prune(j))
            #expect(try JSONDecoder().decode(Job.self, from: data) == .prune(j))
        }
    }

    @Test func allocationsInPlansTakeTheirDeclaredParametersOnly() throws {
        func plan(_ allocation: String) throws -> ExperimentPlan {
            try parsePlan(#"{"name": "x", "grids": [{"models": ["m"], "methods": ["wanda"], "allocations": [\#(allocation)], "sparsities": [0.7]}]}"#)
        }
        #expect(try plan(#"{"name": "ramp", "alpha": 0.2}"#).cells.map(\.id) == ["wanda-ramp-a0.2-p70"])
        #expect(try plan(#""ramp""#).cells.first?.allocation.label == "ramp")
        #expect(try plan(#"{"name": "owl", "lambda": 0.1}"#).cells.first?.allocation.label == "OWL (M=5, λ=0.1)")
        #expect {
            try plan(#"{"name": "ramp", "statistic": "mean"}"#)
        } throws: { error in
            guard case let .invalidPlan(_, key, reason) = error as? ExperimentError else { return false }
            return key == "grids[0].allocations[0]" && reason.contains("statistic") && reason.contains("alpha")
        }
    }

    @Test func compactNumbersReadBack() {
        #expect(compactNumber(0.15) == "0.15")
        #expect(compactNumber(5) == "5")
        #expect(compactNumber(72.5) == "72.5")
        #expect(compactNumber(0.7 * 100) == "70")
        #expect(compactNumber(1.0 / 3.0) == "0.3333333333333333")
    }

    @Test(arguments: [
        (#"{"name": "x", "grid": []}"#, "plan"),
        (#"{"name": "x", "grids": [{"models": ["m"], "methods": ["prune"], "allocations": ["uniform"], "sparsities": [0.5]}]}"#, "grids[0].methods"),
        (#"{"name": "x", "grids": [{"models": ["m"], "methods": ["wanda"], "allocations": ["dlpp"], "sparsities": [0.5]}]}"#, "grids[0].allocations[0]"),
        (#"{"name": "x", "grids": [{"models": ["m"], "methods": ["wanda"], "allocations": ["uniform"], "sparsities": [1.5]}]}"#, "grids[0].sparsities"),
        (#"{"name": "x", "grids": [{"models": ["m"], "methods": ["wanda"], "allocations": ["uniform"]}]}"#, "grids[0].sparsities"),
        (#"{"name": "x", "grids": [{"models": ["m"], "methods": ["wanda"], "allocations": ["uniform"], "patterns": ["3:3"]}]}"#, "grids[0].patterns"),
        (#"{"name": "x", "datasets": {"wikitext2": ""}, "grids": [{"models": ["m"], "methods": ["wanda"], "allocations": ["uniform"], "sparsities": [0.5]}]}"#, "datasets.wikitext2"),
        (#"{"name": "x", "grids": [{"models": ["m"], "methods": ["wanda"], "allocations": ["uniform"], "sparsities": [0.5], "perplexity": ["ptb"]}]}"#, "grids[0].perplexity"),
        (#"{"name": "../x", "grids": []}"#, "name"),
        (#"{"name": "x", "calibration": {"samples": 0}, "grids": []}"#, "calibration.samples"),
        (#"{"name": "x", "grids": [{"models": ["m"], "methods": ["wanda"], "allocations": [{"name": "dlp", "statistic": "max"}], "sparsities": [0.5]}]}"#, "grids[0].allocations[0].statistic"),
        (#"{"name": "x", "grids": [{"models": ["m"], "methods": ["wanda"], "allocations": ["uniform"], "sparsities": [0.5], "weights": ["q4_1"]}]}"#, "grids[0].weights"),
        (#"{"name": "x", "grids": [{"models": ["m"], "methods": ["wanda"], "allocations": ["uniform"], "sparsities": [0.5], "weights": ["q4_0", "q4_0"]}]}"#, "grids[0].weights"),
        (#"{"name": "x", "grids": [{"models": ["m"], "methods": ["wanda"], "allocations": ["uniform"], "sparsities": [0.5], "weights": ["f16-joint"]}]}"#, "grids[0].weights"),
        (#"{"name": "x", "dense": {"weights": ["q4_0-joint"]}, "grids": [{"models": ["m"], "methods": ["wanda"], "allocations": ["uniform"], "sparsities": [0.5]}]}"#, "dense.weights"),
    ])
    func badPlansNameTheKey(text: String, key: String) {
        #expect {
            _ = try parsePlan(text)
        } throws: { error in
            guard case let .invalidPlan(_, badKey, _) = error as? ExperimentError else { return false }
            return badKey == key
        }
    }

    /// The cross product is bounded before it is expanded: 101 models × 100 sparsities in one grid,
    /// or two grids of 6,000 cells, pass `ExperimentPlan.maximumCells`; the error names the grid.
    @Test func plansNamingTooManyCellsAreRefused() throws {
        func grid(models: Int, sparsities: Int) -> String {
            let m = (0..<models).map { "\"m\($0)\"" }.joined(separator: ",")
            let p = (1...sparsities).map { "\(Double($0) / Double(sparsities + 1))" }.joined(separator: ",")
            return #"{"models": [\#(m)], "methods": ["wanda"], "allocations": ["uniform"], "sparsities": [\#(p)]}"#
        }
        for (grids, key) in [([grid(models: 101, sparsities: 100)], "grids[0]"),
                             ([grid(models: 60, sparsities: 100), grid(models: 60, sparsities: 100)], "grids[1]")] {
            #expect {
                _ = try parsePlan(#"{"name": "x", "grids": [\#(grids.joined(separator: ","))]}"#)
            } throws: { error in
                guard case let .invalidPlan(_, badKey, reason) = error as? ExperimentError else { return false }
                return badKey == key && reason.contains("more than 10000 cells")
            }
        }
        #expect(try parsePlan(#"{"name": "x", "grids": [\#(grid(models: 100, sparsities: 100))]}"#).cells.count == 10_000)
    }

    @Test func unreadableInputFilesAreNamedBeforeAnyStep() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("data"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let plan = try parsePlan(samplePlan, folder: folder)
        #expect {
            try plan.checkInputs(path: "plan.json")
        } throws: { error in
            guard case let .invalidPlan(_, key, reason) = error as? ExperimentError else { return false }
            return key == "datasets.wikitext2" && reason.contains("data/wiki.test.raw")
        }
        try Data("text".utf8).write(to: folder.appendingPathComponent("data/wiki.test.raw"))
        var calibrated = plan
        try Data("doc\n".utf8).write(to: folder.appendingPathComponent("docs.txt"))
        calibrated.calibration.source = CalibrationSource(name: "docs.txt", path: folder.appendingPathComponent("docs.txt").path)
        try calibrated.checkInputs(path: "plan.json")
        var other = plan
        other.calibration.source = CalibrationSource(name: "missing.jsonl", path: folder.appendingPathComponent("missing.jsonl").path)
        #expect(throws: ExperimentError.self) { try other.checkInputs(path: "plan.json") }
    }

    @Test func duplicateKeysAreRejected() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("p.json")
        try Data(#"{"name": "a", "name": "b", "grids": []}"#.utf8).write(to: url)
        #expect(throws: ExperimentError.self) { try ExperimentPlan.load(from: url) }
    }
}
