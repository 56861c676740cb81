import Experiments
import Foundation

/// `dlp experiment PLAN`: runs a plan's grid, skipping finished steps.
struct ExperimentCommand: Command {
    static let name = "experiment"
    static let summary = "run a declarative grid of prunes and evaluations (resumable; finished steps are skipped)"
    static let usage = """
        usage: dlp experiment PLAN.json [--results DIR] [--dry-run] [--keep-models]
          PLAN.json       the plan: models × methods × allocations × sparsities × patterns, calibration,
                          evaluations (format: see experiments/README.md)
          --results DIR   where results go (default: results/<plan name> beside the plan file)
          --dry-run       list the steps that would run, with their commands, and stop
          --keep-models   keep each pruned model.gguf (default: deleted once it is measured)
        Every step is one `dlp prune`, `dlp perplexity` or `dlp eval` run; each writes its result under
        DIR/<model>/<cell>/ and a step whose file exists is not run again. At the end DIR/results.json and
        DIR/results.csv collect everything; `dlp results` turns plans into a Markdown report.
        """
    let plan: ExperimentPlan
    let planPath: String
    let directory: URL
    let dryRun: Bool
    let keepModels: Bool

    init(arguments: inout Arguments) throws {
        dryRun = arguments.flag("--dry-run")
        keepModels = arguments.flag("--keep-models")
        let results = try arguments.option("--results")
        planPath = try arguments.positional("PLAN.json")
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
                print("[\(i + 1)/\(steps.count)] \(step.model)/\(step.cell): \(step.name)\n    dlp \(step.arguments.joined(separator: " "))"
                      + (step.output.map { " > \($0.path)" } ?? ""))
            }
            if steps.isEmpty { print("nothing to do: every step of \(plan.name) is finished") }
            return
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let started = Date()
        let ran = try runner.run(executor: SubprocessExecutor()) { i, n, step in
            FileHandle.standardError.write(Data("[\(i)/\(n)] \(step.model)/\(step.cell): \(step.name)   (dlp \(step.arguments.joined(separator: " ")))\n".utf8))
        }
        print("experiment \(plan.name): \(ran) step(s) run in \(String(format: "%.1f", Date().timeIntervalSince(started) / 60)) min; results in \(directory.appendingPathComponent("results.csv").path)")
    }
}

/// Runs `dlp` steps as child processes of the executable found at this process's path when the
/// plan started. A rebuild that replaces the file mid-plan is picked up by the next step (each
/// step's output records the tool that made it); a removed file stops the plan with a message.
struct SubprocessExecutor: ExperimentStepExecutor {
    let executable: URL

    init() {
        // Linux names a replaced executable "PATH (deleted)"; the path is what later steps run.
        var path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        if path.hasSuffix(" (deleted)") { path.removeLast(" (deleted)".count) }
        executable = URL(fileURLWithPath: path)
    }

    func run(_ arguments: [String], stdout: URL?) throws -> Int32 {
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw RuntimeError("the dlp executable \(executable.path) is gone (removed, or being rebuilt); run the plan again once it is back: finished steps are kept")
        }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var handle: FileHandle?
        if let stdout {
            FileManager.default.createFile(atPath: stdout.path, contents: nil)
            handle = try FileHandle(forWritingTo: stdout)
            process.standardOutput = handle
        }
        defer { try? handle?.close() }
        try process.run()
        process.waitUntilExit()
        return process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
    }
}

/// `dlp results PLAN... --output FILE`: the Markdown report of finished plans, with charts.
struct ResultsCommand: Command {
    static let name = "results"
    static let summary = "write a Markdown report (tables, SVG charts) of finished experiment plans"
    static let usage = """
        usage: dlp results PLAN.json [PLAN.json ...] --output FILE.md [--charts DIR] [--notes FILE.md] [--title TEXT]
          --output FILE.md  the report (written atomically)
          --charts DIR      where the SVG charts go (default: a folder named after FILE beside it, e.g. docs/results/)
          --notes FILE.md   hand-written Markdown placed after the title (discussion, caveats)
          --title TEXT      the report's title (default "Results")
        Reads each plan's results folder (default results/<plan name> beside the plan); runs nothing.
        """
    let plans: [(path: String, plan: ExperimentPlan)]
    let output: URL
    let charts: URL
    let notes: String
    let title: String

    init(arguments: inout Arguments) throws {
        guard let out = try arguments.option("--output") else { throw UsageError("--output FILE.md is required") }
        output = URL(fileURLWithPath: out)
        charts = try arguments.option("--charts").map { URL(fileURLWithPath: $0) }
            ?? output.deletingPathExtension().deletingLastPathComponent().appendingPathComponent(output.deletingPathExtension().lastPathComponent.lowercased())
        if let path = try arguments.option("--notes") {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw UsageError("--notes \(path): cannot read the file") }
            notes = text
        } else {
            notes = ""
        }
        title = try arguments.option("--title") ?? "Results"
        var plans = [(String, ExperimentPlan)]()
        while let path = try? arguments.positional("PLAN.json") {
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
