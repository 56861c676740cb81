import Experiments
import Foundation
import Jobs

/// `dlp experiment PLAN`: runs a plan's grid, skipping finished steps.
struct ExperimentCommand: Command {
    static let name = "experiment"
    static let summary = "run a declarative grid of prunes and evaluations (resumable; finished steps are skipped)"
    static let synopsis = "usage: dlp experiment PLAN.json [--results DIR] [--dry-run] [--keep-models] [--in-process]"
    static let planArgument = Option("PLAN.json", nil, "the plan: models × methods × allocations × sparsities × patterns, calibration,\nevaluations, LoRA recoveries (format: see experiments/README.md)")
    static let results = Option("--results", "DIR", "where results go (default: results/<plan name> beside the plan file)")
    static let dryRun = Option("--dry-run", nil, "list the steps that would run, with their jobs, and stop")
    static let keepModels = Option("--keep-models", nil, "keep each pruned model.gguf (default: deleted once it is measured)")
    static let inProcess = Option("--in-process", nil, "run every job in this process (default: each job in a child process,\n`dlp job FILE`, so its memory goes back to the system when it ends)")
    static let options = [planArgument, results, dryRun, keepModels, inProcess]
    static let interruptedMessage = "the step in flight was stopped and its partial files removed (a fine-tuning step keeps the state of its last finished training step); finished steps are kept: run the plan again to resume"
    static let footer = """
        Every step is one job — a prune, a perplexity or a zero-shot evaluation, a fine-tuning (a grid's
        recovery) — written as JSON and run by `dlp job`; each writes its result under DIR/<model>/<cell>/
        (a recovery under DIR/<model>/<cell>/lora-.../) and a step whose file exists is not run again. At the end DIR/results.json and DIR/results.csv collect everything; `dlp results` turns plans
        into a Markdown report.
        """
    let plan: ExperimentPlan
    let planPath: String
    let directory: URL
    let dryRun: Bool
    let keepModels: Bool
    let inProcess: Bool

    init(arguments: inout Arguments) throws {
        dryRun = arguments.flag(Self.dryRun)
        keepModels = arguments.flag(Self.keepModels)
        inProcess = arguments.flag(Self.inProcess)
        let results = try arguments.value(Self.results)
        planPath = try arguments.positional(Self.planArgument)
        let url = URL(fileURLWithPath: planPath)
        do {
            plan = try ExperimentPlan.load(from: url)
            try plan.checkInputs(path: planPath)
        } catch let error as ExperimentError {
            throw UsageError(error.description)
        }
        directory = results.map { URL(fileURLWithPath: $0) }
            ?? ExperimentPlan.defaultResultsDirectory(planFile: url, name: plan.name)
    }

    func run() throws {
        let runner = ExperimentRunner(plan: plan, directory: directory, keepModels: keepModels)
        let steps = try runner.pendingSteps()
        let cells = plan.cells.count
        FileHandle.standardError.write(Data("experiment \(plan.name): \(cells) cells, \(plan.models.count) model(s); \(steps.count) step(s) to run → \(directory.path)\n".utf8))
        if dryRun {
            for (i, step) in steps.enumerated() {
                print("[\(i + 1)/\(steps.count)] \(step.model)/\(step.cell): \(step.name)\n    \(step.job)"
                      + (step.output.map { " > \($0.path)" } ?? ""))
            }
            if steps.isEmpty { print("nothing to do: every step of \(plan.name) is finished") }
            return
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let started = Date()
        let executor: any ExperimentStepExecutor = inProcess ? InProcessExecutor(observer: .terminal())
            : ChildProcessExecutor(executable: currentExecutable())
        let ran = try runner.run(executor: executor) { i, n, step in
            FileHandle.standardError.write(Data("[\(i)/\(n)] \(step.model)/\(step.cell): \(step.name)   (\(step.job))\n".utf8))
        }
        print("experiment \(plan.name): \(ran) step(s) run in \(String(format: "%.1f", Date().timeIntervalSince(started) / 60)) min; results in \(directory.appendingPathComponent("results.csv").path)")
    }
}

/// The executable of this process, at the path it had when it started. Linux names a replaced
/// executable "PATH (deleted)"; the path is what later steps run, so a rebuild mid-plan is picked
/// up by the next step (each step's output records the tool that made it).
func currentExecutable() -> URL {
    var path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    if path.hasSuffix(" (deleted)") { path.removeLast(" (deleted)".count) }
    return URL(fileURLWithPath: path)
}

/// `dlp results PLAN... --output FILE`: the Markdown report of finished plans, with charts.
struct ResultsCommand: Command {
    static let name = "results"
    static let summary = "write a Markdown report (tables, SVG charts) of finished experiment plans"
    static let synopsis = "usage: dlp results PLAN.json [PLAN.json ...] --output FILE.md [--charts DIR] [--notes FILE.md] [--title TEXT]"
    static let plansArgument = Option("PLAN.json", nil, "finished plans; each is read from its results folder (default results/<plan name>\nbeside the plan); nothing is run")
    static let output = Option("--output", "FILE.md", "the report (written atomically)")
    static let charts = Option("--charts", "DIR", "where the SVG charts go (default: a folder named after FILE beside it, e.g. docs/results/)")
    static let notes = Option("--notes", "FILE.md", "hand-written Markdown placed after the title (discussion, caveats)")
    static let title = Option("--title", "TEXT", "the report's title (default \"Results\")")
    static let options = [plansArgument, output, charts, notes, title]
    let plans: [(path: String, plan: ExperimentPlan)]
    let output: URL
    let charts: URL
    let notes: String
    let title: String

    init(arguments: inout Arguments) throws {
        guard let out = try arguments.value(Self.output) else { throw UsageError("--output FILE.md is required") }
        output = URL(fileURLWithPath: out)
        charts = try arguments.value(Self.charts).map { URL(fileURLWithPath: $0) }
            ?? output.deletingPathExtension().deletingLastPathComponent().appendingPathComponent(output.deletingPathExtension().lastPathComponent.lowercased())
        if let path = try arguments.value(Self.notes) {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw UsageError("--notes \(path): cannot read the file") }
            notes = text
        } else {
            notes = ""
        }
        title = try arguments.value(Self.title) ?? "Results"
        var plans = [(String, ExperimentPlan)]()
        while let path = arguments.optionalPositional(Self.plansArgument) {
            do { plans.append((path, try ExperimentPlan.load(from: URL(fileURLWithPath: path)))) } catch let error as ExperimentError {
                throw UsageError(error.description)
            }
        }
        guard !plans.isEmpty else { throw UsageError("name at least one plan file") }
        self.plans = plans
    }

    func run() throws {
        var sections = [ResultsDocument.Section]()
        for (path, plan) in plans {
            let directory = ExperimentPlan.defaultResultsDirectory(planFile: URL(fileURLWithPath: path), name: plan.name)
            let results = try ExperimentResults.collect(plan: plan, directory: directory)
            sections.append(.init(planPath: path, results: results))
        }
        let relative = relativePath(from: output.deletingLastPathComponent(), to: charts)
        let document = ResultsDocument(title: title, notes: notes, sections: sections).render(chartFolder: relative)
        let fm = FileManager.default
        try fm.createDirectory(at: charts, withIntermediateDirectories: true)
        try fm.createDirectory(at: output.deletingLastPathComponent(), withIntermediateDirectories: true)
        for chart in document.charts {
            try Data(chart.svg.utf8).write(to: charts.appendingPathComponent(chart.name), options: .atomic)
        }
        try Data(document.markdown.utf8).write(to: output, options: .atomic)
        print("wrote \(output.path) (\(sections.map { "\($0.results.plan): \($0.results.cells.count) cells" }.joined(separator: ", "))) and \(document.charts.count) chart(s) in \(charts.path)")
    }

    /// `to` relative to the folder `from` (both made absolute).
    func relativePath(from: URL, to: URL) -> String {
        let a = from.standardizedFileURL.pathComponents, b = to.standardizedFileURL.pathComponents
        var i = 0
        while i < min(a.count, b.count), a[i] == b[i] { i += 1 }
        let parts = Array(repeating: "..", count: a.count - i) + b[i...]
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }
}
