import Foundation
import Kernels
import TensorCore
import Transformer

/// Log-likelihood of many token requests, computed the way lm-evaluation-harness's
/// `_loglikelihood_tokens` defines it, with the work shared:
///
/// * Each request's model input is `(context + continuation)[-(L+1):][:-1]`; position `p` of the
///   input predicts token `p + 1`, so the continuation's `c` tokens are scored at the last `c`
///   positions: `ll = Σ log softmax(logits[p])[target]`, and `greedy` is whether every target is
///   the row's argmax.
/// * Requests of one question whose inputs are prefixes of another's input (BoolQ's and RTE's
///   one-token answers, which share the whole input) ride on that longer sequence: a causal model's
///   logits at a position do not depend on later tokens, so this is exact.
/// * The remaining sequences are sorted by length and walked block by block in batches (each
///   block decoded once per batch); every sequence runs at its own length `[T_i, D]` from
///   position 0. Logits are computed only at the scored positions.
///
/// Letters: L window, T tokens of a sequence, D hidden, V vocabulary.
public struct ZeroShotScorer: Sendable {
    /// Longest model input `L` (longer inputs keep their last `L` tokens, as in the harness).
    public var maxLength: Int
    public var threads: ComputeThreads
    /// Bytes of hidden states held at once (`Σ T_max · D · 4` over a batch).
    public var activationBudget: Int

    public init(maxLength: Int = 2048, threads: ComputeThreads = .allAvailable, activationBudget: Int = 512 << 20) {
        self.maxLength = maxLength
        self.threads = threads
        self.activationBudget = activationBudget
    }

    /// The log-likelihood of one request's continuation.
    public struct Score: Sendable, Equatable, Codable {
        /// `Σ log p(continuation token | prefix)` in nats (Double accumulation).
        public var logLikelihood: Double
        /// Whether every continuation token is the argmax of its position's logits.
        public var greedy: Bool
        /// Continuation tokens scored.
        public var tokens: Int
    }

    /// Where the scoring stands: `done` of `total` units of work (a unit is one sequence token
    /// through one block, or through the final norm and LM head).
    public struct Progress: Sendable {
        public var done: Int
        public var total: Int
    }

    /// One model sequence and the requests scored on it.
    public struct Sequence: Sendable, Equatable {
        /// Model input, `[T]`.
        public var tokens: [Int32]
        public var riders: [Rider]
    }

    /// A request scored on a sequence: its continuation's tokens `targets` are predicted by
    /// positions `start ..< start + targets.count`.
    public struct Rider: Sendable, Equatable {
        public var request: Int
        public var start: Int
        public var targets: [Int32]
    }

    /// Groups requests into sequences. `groups` lists the request indices of each question;
    /// a request rides on another of its question whose input has its input as a prefix.
    public func sequences(for requests: [ZeroShotTokenRequest], groups: [[Int]]) -> [Sequence] {
        var result: [Sequence] = []
        for group in groups {
            let inputs = group.map { (index: $0, input: requests[$0].input(maxLength: maxLength), targets: requests[$0].continuation) }
            var local: [Sequence] = []
            for entry in inputs.sorted(by: { $0.input.tokens.count > $1.input.tokens.count }) {
                let tokens = entry.input.tokens
                let scored = entry.input.scoredCount
                let rider = Rider(request: entry.index, start: tokens.count - scored, targets: Array(entry.targets.suffix(scored)))
                if let host = local.firstIndex(where: { $0.tokens.starts(with: tokens) }) {
                    local[host].riders.append(rider)
                } else {
                    local.append(Sequence(tokens: tokens, riders: [rider]))
                }
            }
            result.append(contentsOf: local)
        }
        return result
    }

    /// Scores `requests` (grouped by question in `groups`, each index once) with `model`.
    public func score(model: LanguageModel, requests: [ZeroShotTokenRequest], groups: [[Int]],
                      progress: (Progress) -> Void = { _ in }) throws -> [Score] {
        let c = model.configuration, d = c.hiddenSize
        for request in requests {
            if let bad = request.continuation.first(where: { $0 < 0 || Int($0) >= c.vocabularySize }) {
                throw ZeroShotError.tokenOutOfRange(token: bad, vocabularySize: c.vocabularySize)
            }
        }
        let all = sequences(for: requests, groups: groups).filter { !$0.tokens.isEmpty }
            .sorted { $0.tokens.count > $1.tokens.count }
        var scores = [Score?](repeating: nil, count: requests.count)
        for (index, request) in requests.enumerated() where request.input(maxLength: maxLength).scoredCount == 0 {
            scores[index] = Score(logLikelihood: 0, greedy: true, tokens: 0)
        }
        guard let longest = all.first?.tokens.count else { return scores.map { $0 ?? Score(logLikelihood: 0, greedy: true, tokens: 0) } }
        guard longest <= model.maxSequenceLength else {
            throw ZeroShotError.sequenceTooLong(tokens: longest, modelLimit: model.maxSequenceLength)
        }
        // Batches of similar length (sorted longest first) within the activation budget.
        var batches: [[Sequence]] = []
        var current: [Sequence] = []
        for sequence in all {
            let width = current.first?.tokens.count ?? sequence.tokens.count
            if !current.isEmpty, (current.count + 1) * width * d * MemoryLayout<Float>.size > activationBudget {
                batches.append(current)
                current = []
            }
            current.append(sequence)
        }
        if !current.isEmpty { batches.append(current) }

        let totalTokens = all.reduce(0) { $0 + $1.tokens.count }
        let total = totalTokens * (c.layerCount + 1)
        var done = 0
        let workspace = BlockWorkspace(configuration: c, capacity: longest, threads: threads)
        threads.applyToBLAS()
        progress(Progress(done: 0, total: total))
        for batch in batches {
            let width = batch[0].tokens.count
            let buffer = ActivationBuffer(sequences: batch.count, tokens: width, hiddenSize: d)
            for (s, sequence) in batch.enumerated() {
                try model.embed(sequence.tokens, into: buffer.sequence(s))
            }
            let batchTokens = batch.reduce(0) { $0 + $1.tokens.count }
            for index in 0..<c.layerCount {
                let layer = try model.layer(index)
                for (s, sequence) in batch.enumerated() {
                    layer.forward(buffer.sequence(s), tokens: sequence.tokens.count, workspace: workspace)
                }
                done += batchTokens
                progress(Progress(done: done, total: total))
            }
            for (s, sequence) in batch.enumerated() {
                for (request, score) in headScores(model: model, hidden: buffer.sequence(s), sequence: sequence) {
                    scores[request] = score
                }
            }
            done += batchTokens
            progress(Progress(done: done, total: total))
        }
        return scores.map { $0 ?? Score(logLikelihood: 0, greedy: true, tokens: 0) }
    }

    /// Final norm and LM head at the positions `sequence`'s riders score; per rider the summed
    /// `log softmax(logits[p])[target] = logits[p][target] − logsumexp(logits[p])` and greediness.
    func headScores(model: LanguageModel, hidden: UnsafePointer<Float>, sequence: Sequence) -> [(Int, Score)] {
        let rows = Array(Set(sequence.riders.flatMap { rider in (0..<rider.targets.count).map { rider.start + $0 } })).sorted()
        let v = model.configuration.vocabularySize
        var rowIndex: [Int: Int] = [:]
        for (i, r) in rows.enumerated() { rowIndex[r] = i }
        let logits = model.logits(hidden, rows: rows)           // [R, V]
        var logSumExp = [Double](repeating: 0, count: rows.count)
        var argmax = [Int](repeating: 0, count: rows.count)
        logits.storage.withUnsafeBufferPointer { lb in
            for i in 0..<rows.count {
                let row = lb.baseAddress! + i * v
                logSumExp[i] = SoftmaxKernel.logSumExp(row, count: v)
                var best = 0
                for j in 1..<v where row[j] > row[best] { best = j }
                argmax[i] = best
            }
        }
        return sequence.riders.map { rider in
            var sum = 0.0
            var greedy = true
            for (k, target) in rider.targets.enumerated() {
                guard let i = rowIndex[rider.start + k] else { continue }
                sum += Double(logits[i, Int(target)]) - logSumExp[i]
                greedy = greedy && argmax[i] == Int(target)
            }
            return (rider.request, Score(logLikelihood: sum, greedy: greedy, tokens: rider.targets.count))
        }
    }
}
