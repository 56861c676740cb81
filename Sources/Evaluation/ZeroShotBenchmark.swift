import Foundation
import Kernels
import Tokenization
import Transformer

/// Zero-shot scoring with a question's common prefix run once (``ZeroShotScorer/sharesPrefixes``)
/// next to the same questions scored with every sequence run whole, in the same run: time, the
/// tokens pushed through each block, and how far the two disagree.
public enum ZeroShotBenchmark {
    public struct TaskReport: Sendable, Codable {
        public var task: ZeroShotTask
        public var items: Int
        /// Tokens through each block per question, every sequence whole / prefix shared.
        public var wholeTokensPerItem: Double
        public var sharedTokensPerItem: Double
        public var wholeSeconds: Double
        public var sharedSeconds: Double
        /// `wholeSeconds / sharedSeconds`.
        public var speedup: Double
        /// Largest |Δ log-likelihood| over all choices, nats.
        public var maxLogLikelihoodDifference: Double
        /// Questions whose `acc` or `acc_norm` answer differs between the two.
        public var differingAnswers: Int
    }

    public struct Report: Sendable, Codable {
        public var model: String
        public var threads: Int
        public var tasks: [TaskReport]
        /// Σ whole seconds / Σ shared seconds.
        public var speedup: Double
    }

    /// Scores every question of each dataset both ways (whole first); read the datasets with a
    /// `limit` to bench the first questions only.
    public static func run(datasets: [ZeroShotDataset], model: LanguageModel, tokenizer: any Tokenizer,
                           scorer: ZeroShotScorer, report line: (TaskReport) -> Void = { _ in }) throws -> Report {
        var tasks: [TaskReport] = []
        for dataset in datasets {
            let items = dataset.items
            var runs: [(results: [ZeroShotItemResult], seconds: Double, rows: Int)] = []
            for shares in [false, true] {
                var variant = scorer
                variant.sharesPrefixes = shares
                var total = 0
                let start = Date()
                let results = try ZeroShotEvaluation(scorer: variant).score(items: items, model: model, tokenizer: tokenizer) {
                    total = $0.total
                }
                runs.append((results, Date().timeIntervalSince(start), total / (model.configuration.layerCount + 1)))
            }
            let (whole, shared) = (runs[0], runs[1])
            var worst = 0.0, differing = 0
            for (a, b) in zip(whole.results, shared.results) {
                for (x, y) in zip(a.logLikelihoods, b.logLikelihoods) { worst = max(worst, abs(x - y)) }
                if a.prediction != b.prediction || a.normalizedPrediction != b.normalizedPrediction || a.acc != b.acc {
                    differing += 1
                }
            }
            let task = TaskReport(task: dataset.task, items: items.count,
                                  wholeTokensPerItem: Double(whole.rows) / Double(items.count),
                                  sharedTokensPerItem: Double(shared.rows) / Double(items.count),
                                  wholeSeconds: whole.seconds, sharedSeconds: shared.seconds,
                                  speedup: whole.seconds / shared.seconds,
                                  maxLogLikelihoodDifference: worst, differingAnswers: differing)
            line(task)
            tasks.append(task)
        }
        let speedup = tasks.reduce(0) { $0 + $1.wholeSeconds } / tasks.reduce(0) { $0 + $1.sharedSeconds }
        return Report(model: model.checkpoint.url.path, threads: scorer.threads.count, tasks: tasks, speedup: speedup)
    }
}
