import Foundation
import Kernels

/// The scores of one question: one log-likelihood per choice, and the harness's metrics on them.
public struct ZeroShotItemResult: Sendable, Codable, Equatable {
    public var gold: Int
    /// Per choice `Σ log p(continuation | context)` in nats.
    public var logLikelihoods: [Double]
    /// Per choice, whether every continuation token was the greedy argmax.
    public var greedy: [Bool]
    /// Per choice, the `acc_norm` divisor (choice length in Unicode scalars).
    public var normalizationLengths: [Int]

    public init(gold: Int, logLikelihoods: [Double], greedy: [Bool], normalizationLengths: [Int]) {
        self.gold = gold
        self.logLikelihoods = logLikelihoods
        self.greedy = greedy
        self.normalizationLengths = normalizationLengths
    }

    public init(item: ZeroShotItem, scores: [ZeroShotScorer.Score]) {
        self.init(gold: item.gold, logLikelihoods: scores.map(\.logLikelihood), greedy: scores.map(\.greedy),
                  normalizationLengths: item.normalizationLengths)
    }

    /// `argmax_i ll_i` (first index on ties, as `numpy.argmax`).
    public var prediction: Int { Self.argmax(logLikelihoods) }

    /// `argmax_i ll_i / len_i`.
    public var normalizedPrediction: Int {
        Self.argmax(zip(logLikelihoods, normalizationLengths).map { $0 / Double(max($1, 1)) })
    }

    /// 1 when the prediction is the gold choice; for LAMBADA (one choice) when it is greedy.
    public var acc: Double {
        logLikelihoods.count == 1 ? (greedy[0] ? 1 : 0) : (prediction == gold ? 1 : 0)
    }

    /// 1 when the length-normalised prediction is the gold choice.
    public var accNorm: Double {
        logLikelihoods.count == 1 ? acc : (normalizedPrediction == gold ? 1 : 0)
    }

    static func argmax(_ values: [Double]) -> Int {
        var best = 0
        for i in values.indices where values[i] > values[best] { best = i }
        return best
    }
}

/// One task's result.
public struct ZeroShotTaskResult: Sendable, Codable {
    public var task: ZeroShotTask
    public var split: String
    public var path: String
    public var items: Int
    public var acc: Double
    /// Standard error of `acc`: sample standard deviation / √n, as the harness reports it.
    public var accStderr: Double
    public var accNorm: Double
    public var accNormStderr: Double
    /// LAMBADA only: `exp(−mean over items of the last word's log-likelihood)` (the harness's `perplexity`).
    public var perplexity: Double?
    /// The metric the paper mean uses for this task.
    public var paperMetric: ZeroShotMetric
    /// Requests (choices) scored.
    public var requests: Int
    /// Wall time of the task: tokenization, forward and scoring.
    public var seconds: Double
    public var itemsPerSecond: Double
    /// Per question scores (with `--json --items`).
    public var details: [ZeroShotItemResult]?

    public init(task: ZeroShotTask, path: String, results: [ZeroShotItemResult], seconds: Double, keepDetails: Bool) {
        self.task = task
        split = task.split
        self.path = path
        items = results.count
        let accs = results.map(\.acc), norms = results.map(\.accNorm)
        (acc, accStderr) = Self.meanAndStderr(accs)
        (accNorm, accNormStderr) = Self.meanAndStderr(norms)
        perplexity = task.scoring == .lastWord
            ? Foundation.exp(-results.map { $0.logLikelihoods[0] }.reduce(0, +) / Double(max(results.count, 1))) : nil
        paperMetric = task.paperMetric
        requests = results.reduce(0) { $0 + $1.logLikelihoods.count }
        self.seconds = seconds
        itemsPerSecond = seconds > 0 ? Double(results.count) / seconds : 0
        details = keepDetails ? results : nil
    }

    /// The value of `metric`.
    public func value(_ metric: ZeroShotMetric) -> Double { metric == .acc ? acc : accNorm }

    /// Mean and standard error (sample standard deviation / √n) of per-question scores.
    public static func meanAndStderr(_ values: [Double]) -> (Double, Double) {
        guard !values.isEmpty else { return (0, 0) }
        let n = Double(values.count)
        let mean = values.reduce(0, +) / n
        guard values.count > 1 else { return (mean, 0) }
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        return (mean, (variance / n).squareRoot())
    }
}

/// A full zero-shot run: per-task results and the paper's mean.
public struct ZeroShotReport: Sendable, Codable {
    public var model: String
    public var tasks: [ZeroShotTaskResult]
    /// Mean over the seven paper tasks of each task's ``ZeroShotTask/paperMetric``; nil unless all
    /// seven were run.
    public var paperMean: Double?
    public var paperMeanDefinition: String
    public var limit: Int?
    public var maxLength: Int
    public var threads: Int
    public var seconds: Double
    /// The block linears' products (nil in reports written before it was recorded: f32).
    public var precision: ComputePrecision?

    public static let paperMeanDescription =
        "mean of acc (BoolQ, RTE, WinoGrande) and acc_norm (HellaSwag, ARC-e, ARC-c, OBQA)"

    public init(model: String, tasks: [ZeroShotTaskResult], limit: Int?, maxLength: Int, threads: Int, seconds: Double) {
        self.model = model
        self.tasks = tasks
        let paper = ZeroShotTask.paperTasks.compactMap { task in tasks.first { $0.task == task } }
        paperMean = paper.count == ZeroShotTask.paperTasks.count
            ? paper.reduce(0) { $0 + $1.value($1.paperMetric) } / Double(paper.count) : nil
        paperMeanDefinition = Self.paperMeanDescription
        self.limit = limit
        self.maxLength = maxLength
        self.threads = threads
        self.seconds = seconds
    }
}
