import Evaluation
import Jobs
import Foundation
import Kernels
import Transformer

/// `dlp eval MODEL --tasks ...`: zero-shot accuracy on the paper's tasks (lm-evaluation-harness protocol).
struct EvalCommand: Command {
    static let name = "eval"
    static let summary = "zero-shot accuracy (BoolQ, RTE, HellaSwag, WinoGrande, ARC-e/c, OBQA, PIQA, LAMBADA)"
    static let synopsis = "usage: dlp eval MODEL [--tasks all | everything | T1,T2,...] [--limit N] [--data-dir DIR]\n                      [--max-length 2048] [--adapter DIR] [--precision f32|bf16] [--threads N] [--json [--items]]"
    static let tasks = Option("--tasks", "T", "all: the paper's seven (default); everything: also piqa, lambada; or a list of\n\(ZeroShotTask.allCases.map(\.rawValue).joined(separator: ", "))")
    static let limit = Option("--limit", "N", "only the first N questions of each task")
    static let dataDir = Option("--data-dir", "DIR", "where <task>.jsonl live (default: $DLP_HOME/data/zeroshot, made by\n`python3 scripts/assets.py zeroshot`)")
    static let maxLength = Option("--max-length", "L", "longest model input in tokens; longer inputs keep their last L (default 2048)")
    static let json = Option("--json", nil, "the report as JSON on stdout")
    static let items = Option("--items", nil, "with --json: per-question log-likelihoods")
    static let options = [modelArgument, tasks, limit, dataDir, maxLength] + AdapterOptions.options + [precisionOption, threadsOption, json, items]
    static let footer = """
        Protocol: lm-evaluation-harness 0-shot prompts; acc = argmax of the summed continuation
        log-likelihood, acc_norm = argmax of it divided by the choice's length in characters.
        Paper mean: \(ZeroShotReport.paperMeanDescription).
        Progress goes to stderr.
        """
    let job: ZeroShotJob
    let json: Bool

    init(arguments: inout Arguments) throws {
        json = arguments.flag(Self.json)
        let items = arguments.flag(Self.items)
        if items && !json { throw UsageError("--items needs --json") }
        let tasks = try arguments.value(Self.tasks, zeroShotTaskList) ?? ZeroShotTask.paperTasks
        let limit = try arguments.value(Self.limit, positiveInt)
        let maxLength = try arguments.value(Self.maxLength, positiveInt) ?? 2048
        let threads = try arguments.value(threadsOption, positiveInt)
        let directory = try arguments.value(Self.dataDir) ?? ZeroShotDataset.defaultDirectory(home: ModelReference.home()).path
        job = ZeroShotJob(model: try arguments.positional(modelArgument), tasks: tasks, dataDirectory: directory, limit: limit,
                          maxLength: maxLength, threads: threads, keepDetails: items, adapter: try AdapterOptions.settings(&arguments),
                          precision: try arguments.value(precisionOption, parsePrecision))
        try asUsageError { try job.validate() }
    }

    func run() throws {
        let report = try job.run(observer: .terminal())
        if json {
            try printJSON(report)
        } else {
            print(Self.table(report, model: URL(fileURLWithPath: job.model).lastPathComponent))
        }
    }

    /// The report as a text table; `*` marks the metric the paper mean uses.
    static func table(_ report: ZeroShotReport, model: String) -> String {
        func pct(_ x: Double) -> String { String(format: "%6.2f", x * 100) }
        var lines = ["zero-shot accuracy, %  (\(model); lm-evaluation-harness 0-shot protocol)",
                     "task           split       items    acc   ±stderr  acc_norm ±stderr   other"]
        for r in report.tasks {
            let mark = { (m: ZeroShotMetric) in r.task.scoring != .lastWord && r.paperMetric == m
                && ZeroShotTask.paperTasks.contains(r.task) ? "*" : " " }
            let other = r.perplexity.map { String(format: "ppl %.3f", $0) } ?? ""
            lines.append(
                "\(r.task.title.padding(toLength: 14, withPad: " ", startingAt: 0)) "
                + "\(r.split.padding(toLength: 10, withPad: " ", startingAt: 0)) "
                + String(format: "%6d", r.items)
                + "  \(pct(r.acc))\(mark(.acc)) \(pct(r.accStderr))  \(pct(r.accNorm))\(mark(.accNorm)) \(pct(r.accNormStderr))   \(other)")
        }
        if let mean = report.paperMean {
            lines.append(String(format: "paper mean (7 tasks)  %.2f   (* : %@)", mean * 100, ZeroShotReport.paperMeanDescription))
        }
        let limit = report.limit.map { ", first \($0) questions per task" } ?? ""
        lines.append(String(format: "%.1f s, %d threads, max length %d, %@ products%@", report.seconds, report.threads, report.maxLength,
                            (report.precision ?? .f32).rawValue, limit))
        return lines.joined(separator: "\n")
    }
}

/// A `--tasks` value: `all`, `everything` or a comma-separated list of zero-shot tasks.
func zeroShotTaskList(_ text: String) throws -> [ZeroShotTask] {
    do { return try ZeroShotTask.parseList(text) } catch let error as ZeroShotError {
        throw UsageError(error.description)
    }
}
