import Foundation
import Testing
import _TestSupport
@testable import Experiments

/// The committed plans, their committed results and the published page agree: every plan in
/// `experiments/` is finished (running it again would do nothing), and the `dlp results` command
/// that `docs/RESULTS.md` names for its own regeneration gives that page and its charts byte for
/// byte. Reads only committed files; runs no model.
@Suite struct PublishedResultsTests {
    static let root = TestAssets.projectRoot

    /// The `dlp results` command in the notes' first shell block, as arguments after `results`.
    func regenerateCommand() throws -> [String] {
        let notes = try String(contentsOf: Self.root.appendingPathComponent("docs/results-notes.md"), encoding: .utf8)
        let block = try #require(notes.components(separatedBy: "```sh\n").dropFirst().first?.components(separatedBy: "```").first,
                                 "docs/results-notes.md has no ```sh block")
        let words = block.replacingOccurrences(of: "\\\n", with: " ").split(whereSeparator: \.isWhitespace).map(String.init)
        let start = try #require(words.firstIndex(of: "results"), "the notes' shell block does not run `dlp results`")
        return Array(words[(start + 1)...])
    }

    func planFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("experiments").path)
            .filter { $0.hasSuffix(".json") }.map { "experiments/\($0)" }.sorted()
    }

    @Test func everyPlanIsFinished() throws {
        for path in try planFiles() {
            let url = Self.root.appendingPathComponent(path)
            let plan = try ExperimentPlan.load(from: url)
            #expect(plan.name == url.deletingPathExtension().lastPathComponent, "\(path): the plan's name differs from its file's")
            let directory = ExperimentPlan.defaultResultsDirectory(planFile: url, name: plan.name)
            let pending = try ExperimentRunner(plan: plan, directory: directory).pendingSteps()
            #expect(pending.isEmpty, "\(path): \(pending.count) step(s) not run, first \(pending.first.map { "\($0.model)/\($0.cell): \($0.name)" } ?? "")")
        }
    }

    @Test func publishedPageIsWhatItsCommandGenerates() throws {
        let arguments = try regenerateCommand()
        let plans = arguments.prefix { !$0.hasPrefix("--") }
        func option(_ name: String) throws -> String {
            let i = try #require(arguments.firstIndex(of: name), "the command has no \(name)")
            return arguments[i + 1]
        }
        #expect(Set(plans) == Set(try planFiles()), "the published page must name every plan in experiments/")
        let output = Self.root.appendingPathComponent(try option("--output"))
        let notes = try String(contentsOf: Self.root.appendingPathComponent(try option("--notes")), encoding: .utf8)
        let sections = try plans.map { path in
            let url = Self.root.appendingPathComponent(path)
            let plan = try ExperimentPlan.load(from: url)
            return ResultsDocument.Section(planPath: path, results: try ExperimentResults.collect(
                plan: plan, directory: ExperimentPlan.defaultResultsDirectory(planFile: url, name: plan.name)))
        }
        // `dlp results` puts the charts in a folder named after the page, beside it.
        let chartFolder = output.deletingPathExtension().lastPathComponent.lowercased()
        let title = arguments.firstIndex(of: "--title").map { arguments[$0 + 1] } ?? "Results"
        let document = ResultsDocument(title: title, notes: notes, sections: sections).render(chartFolder: chartFolder)
        let published = try String(contentsOf: output, encoding: .utf8)
        if document.markdown != published {
            let ours = document.markdown.components(separatedBy: "\n"), theirs = published.components(separatedBy: "\n")
            let line = zip(ours, theirs).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(ours.count, theirs.count)
            let generated = line < ours.count ? ours[line] : "<end>", current = line < theirs.count ? theirs[line] : "<end>"
            Issue.record("\(output.lastPathComponent) differs from what its command generates, from line \(line + 1): generated \"\(generated)\", published \"\(current)\"")
        }
        let charts = output.deletingLastPathComponent().appendingPathComponent(chartFolder)
        for chart in document.charts {
            let file = charts.appendingPathComponent(chart.name)
            let committed = try? String(contentsOf: file, encoding: .utf8)
            #expect(committed == chart.svg, "\(file.path) is missing or differs from the generated chart")
        }
    }
}
