import Evaluation
import Foundation
import Kernels
import Transformer

/// `dlp eval MODEL --tasks ...`: zero-shot accuracy on the paper's tasks (lm-evaluation-harness protocol).
struct EvalCommand: Command {
    static let name = "eval"
    static let summary = "zero-shot accuracy (BoolQ, RTE, HellaSwag, WinoGrande, ARC-e/c, OBQA, PIQA, LAMBADA)"
    static let usage = """
        usage: dlp eval MODEL [--tasks all | everything | T1,T2,...] [--limit N] [--data-dir DIR]
                              [--max-length 2048] [--threads N] [--json [--items]]
          MODEL           a GGUF file, a safetensors directory (e.g. written by `dlp prune`), or a short name
          --tasks         all: the paper's seven (default); everything: also piqa, lambada; or a list of
                          \(ZeroShotTask.allCases.map(\.rawValue).joined(separator: ", "))
          --limit N       only the first N questions of each task
          --data-dir DIR  where <task>.jsonl live (default: $DLP_HOME/data/zeroshot, made by
                          `python3 scripts/assets.py zeroshot`)
          --max-length L  longest model input in tokens; longer inputs keep their last L (default 2048)
          --threads N     CPU threads (default: all available)
          --json          the report as JSON on stdout; --items adds per-question log-likelihoods
        Protocol: lm-evaluation-harness 0-shot prompts; acc = argmax of the summed continuation
        log-likelihood, acc_norm = argmax of it divided by the choice's length in characters.
        Paper mean: \(ZeroShotReport.paperMeanDescription).
        Progress goes to stderr.
        """
    let model: String
    let tasks: [ZeroShotTask]
    let directory: URL
    let evaluation: ZeroShotEvaluation
    let json: Bool

    init(arguments: inout Arguments) throws {
        json = arguments.flag("--json")
        let items = arguments.flag("--items")
        if items && !json { throw UsageError("--items needs --json") }
        tasks = try arguments.option("--tasks", zeroShotTaskList) ?? ZeroShotTask.paperTasks
        let limit = try arguments.option("--limit", positiveInt)
        let maxLength = try arguments.option("--max-length", positiveInt) ?? 2048
        guard maxLength >= 2 else { throw UsageError("--max-length must be at least 2") }
        let threads = try arguments.option("--threads", positiveInt).map(ComputeThreads.init) ?? .allAvailable
        directory = try zeroShotDataDirectory(&arguments)
        for task in tasks {
            let file = ZeroShotDataset.url(for: task, in: directory)
            guard FileManager.default.isReadableFile(atPath: file.path) else {
                throw UsageError(ZeroShotError.missingTaskFile(path: file.path, task: task.rawValue).description)
            }
        }
        model = try arguments.positional("MODEL")
        evaluation = ZeroShotEvaluation(scorer: ZeroShotScorer(maxLength: maxLength, threads: threads), limit: limit,
                                        keepDetails: items)
    }

    func run() throws {
        let checkpoint = try Checkpoint.open(model)
        let tokenizer = try checkpoint.tokenizer()
        let languageModel = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: evaluation.scorer.maxLength)
        var bar: ProgressBar?
        var barTask: ZeroShotTask?
        let report = try evaluation.evaluate(tasks: tasks, directory: directory, model: languageModel,
                                             tokenizer: tokenizer) { step in
            if barTask != step.task {
                barTask = step.task
                bar = ProgressBar(label: step.task.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0),
                                  unit: "items")
            }
            bar?.update(step.done, of: step.total, unitsPerStep: Double(step.items) / Double(max(step.total, 1)))
        }
        if json {
            try printJSON(report)
        } else {
            print(Self.table(report, model: checkpoint.url.lastPathComponent))
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
        lines.append(String(format: "%.1f s, %d threads, max length %d%@", report.seconds, report.threads, report.maxLength, limit))
        return lines.joined(separator: "\n")
    }
}

/// A `--tasks` value: `all`, `everything` or a comma-separated list of zero-shot tasks.
func zeroShotTaskList(_ text: String) throws -> [ZeroShotTask] {
    do { return try ZeroShotTask.parseList(text) } catch let error as ZeroShotError {
        throw UsageError(error.description)
    }
}

/// The `--data-dir` option: where `<task>.jsonl` live (default `$DLP_HOME/data/zeroshot`).
func zeroShotDataDirectory(_ arguments: inout Arguments) throws -> URL {
    try arguments.option("--data-dir").map { URL(fileURLWithPath: $0) }
        ?? ZeroShotDataset.defaultDirectory(home: ModelReference.home())
}
