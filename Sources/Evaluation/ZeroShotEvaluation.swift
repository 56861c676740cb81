import Foundation
import Kernels
import Tokenization
import Transformer

/// Zero-shot accuracy by lm-evaluation-harness's protocol (`DLP-METHOD.md` §8): each task's
/// questions become `(context, continuation)` requests (``ZeroShotTask/item(fromJSON:line:path:)``),
/// tokenized as the harness does (``ZeroShotTokenRequest``), scored by ``ZeroShotScorer``, and
/// reduced to `acc` / `acc_norm` (LAMBADA: greedy last-word accuracy and perplexity).
public struct ZeroShotEvaluation: Sendable {
    public var scorer: ZeroShotScorer
    /// Score only the first `limit` questions of each task (nil: all).
    public var limit: Int?
    /// Keep per-question log-likelihoods in the results.
    public var keepDetails: Bool

    public init(scorer: ZeroShotScorer = ZeroShotScorer(), limit: Int? = nil, keepDetails: Bool = false) {
        self.scorer = scorer
        self.limit = limit
        self.keepDetails = keepDetails
    }

    /// Where a run stands within one task.
    public struct Progress: Sendable {
        public var task: ZeroShotTask
        /// Questions in the task.
        public var items: Int
        public var done: Int
        public var total: Int
    }

    /// Scores `items` and returns one result per question.
    public func score(items: [ZeroShotItem], model: LanguageModel, tokenizer: any Tokenizer,
                      progress: (ZeroShotScorer.Progress) -> Void = { _ in }) throws -> [ZeroShotItemResult] {
        var requests: [ZeroShotTokenRequest] = []
        var groups: [[Int]] = []
        for item in items {
            groups.append(Array(requests.count..<(requests.count + item.requests.count)))
            requests += item.requests.map { ZeroShotTokenRequest($0, tokenizer: tokenizer) }
        }
        let scores = try scorer.score(model: model, requests: requests, groups: groups, progress: progress)
        return zip(items, groups).map { item, group in ZeroShotItemResult(item: item, scores: group.map { scores[$0] }) }
    }

    /// Runs one task from its dataset.
    public func evaluate(_ dataset: ZeroShotDataset, model: LanguageModel, tokenizer: any Tokenizer,
                         progress: (Progress) -> Void = { _ in }) throws -> ZeroShotTaskResult {
        let start = Date()
        let items = limit.map { Array(dataset.items.prefix($0)) } ?? dataset.items
        let results = try score(items: items, model: model, tokenizer: tokenizer) { step in
            progress(Progress(task: dataset.task, items: items.count, done: step.done, total: step.total))
        }
        return ZeroShotTaskResult(task: dataset.task, path: dataset.url.path, results: results,
                                  seconds: Date().timeIntervalSince(start), keepDetails: keepDetails)
    }

    /// Loads every task from `directory` (before any scoring, so a missing file fails at once),
    /// then runs them in order.
    public func evaluate(tasks: [ZeroShotTask], directory: URL, model: LanguageModel, tokenizer: any Tokenizer,
                         progress: (Progress) -> Void = { _ in }) throws -> ZeroShotReport {
        let start = Date()
        let datasets = try tasks.map { try ZeroShotDataset(task: $0, directory: directory, limit: limit) }
        var results: [ZeroShotTaskResult] = []
        for dataset in datasets {
            results.append(try evaluate(dataset, model: model, tokenizer: tokenizer, progress: progress))
        }
        var report = ZeroShotReport(model: model.checkpoint.url.path, tasks: results, limit: limit, maxLength: scorer.maxLength,
                                    threads: scorer.threads.count, seconds: Date().timeIntervalSince(start))
        report.precision = scorer.precision
        return report
    }
}
