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
/// * The remaining sequences of a question usually begin with the same tokens (the question's
///   context): that common prefix runs through each block once, its keys and values are kept,
///   and each sequence's remaining tokens (a branch) run after it with attention over them
///   (``KeyValuePrefix``). The prefix stops before the first scored position, so every score
///   comes from a branch. Exact up to float rounding: attention sees the same keys and values.
/// * Questions are sorted by size and walked block by block in batches (each block decoded once
///   per batch); every prefix and branch runs at its own length. Logits are computed only at the
///   scored positions.
///
/// Letters: L window, T tokens of a sequence, D hidden, V vocabulary.
public struct ZeroShotScorer: Sendable {
    /// Longest model input `L` (longer inputs keep their last `L` tokens, as in the harness).
    public var maxLength: Int
    public var threads: ComputeThreads
    /// Bytes of hidden states held at once (`Σ T_max · D · 4` over a batch).
    public var activationBudget: Int

    /// Whether a question's common prefix runs once (``PrefixGroup``); off, every sequence runs
    /// whole from position 0 (the slower definition, kept to check the shared path against).
    public var sharesPrefixes: Bool

    public init(maxLength: Int = 2048, threads: ComputeThreads = .allAvailable, activationBudget: Int = 512 << 20,
                sharesPrefixes: Bool = true) {
        self.maxLength = maxLength
        self.threads = threads
        self.activationBudget = activationBudget
        self.sharesPrefixes = sharesPrefixes
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

    /// One question's sequences as a common `prefix` (possibly empty) and the `branches` that
    /// follow it; a branch's tokens sit at positions `prefix.count…` and its riders' `start`
    /// counts from the branch's first token.
    public struct PrefixGroup: Sendable, Equatable {
        public var prefix: [Int32]
        public var branches: [Sequence]

        /// Tokens run through each block: the prefix once plus every branch.
        public var rows: Int { prefix.count + branches.reduce(0) { $0 + $1.tokens.count } }
    }

    /// Groups requests into sequences. `groups` lists the request indices of each question;
    /// a request rides on another of its question whose input has its input as a prefix.
    public func sequences(for requests: [ZeroShotTokenRequest], groups: [[Int]]) -> [Sequence] {
        groups.flatMap { sequences(for: requests, group: $0) }
    }

    /// Each question's sequences split at their common prefix, which ends before the first
    /// scored position of any of them and leaves every branch at least one token. A question
    /// with one sequence, or none in common, gets an empty prefix (also when ``sharesPrefixes``
    /// is off).
    public func prefixGroups(for requests: [ZeroShotTokenRequest], groups: [[Int]]) -> [PrefixGroup] {
        var result: [PrefixGroup] = []
        for group in groups {
            let sequences = sequences(for: requests, group: group).filter { !$0.tokens.isEmpty }
            guard !sequences.isEmpty else { continue }
            var shared = 0
            if sharesPrefixes, sequences.count > 1 {
                let first = sequences[0].tokens
                shared = sequences.reduce(first.count) { length, sequence in
                    let common = zip(first, sequence.tokens).prefix { $0 == $1 }.count
                    let scoredFrom = sequence.riders.map(\.start).min() ?? sequence.tokens.count
                    return min(length, common, scoredFrom, sequence.tokens.count - 1)
                }
            }
            if shared == 0 {
                result.append(contentsOf: sequences.map { PrefixGroup(prefix: [], branches: [$0]) })
                continue
            }
            let branches = sequences.map { sequence in
                Sequence(tokens: Array(sequence.tokens[shared...]),
                         riders: sequence.riders.map { Rider(request: $0.request, start: $0.start - shared, targets: $0.targets) })
            }
            result.append(PrefixGroup(prefix: Array(sequences[0].tokens[..<shared]), branches: branches))
        }
        return result
    }

    private func sequences(for requests: [ZeroShotTokenRequest], group: [Int]) -> [Sequence] {
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
        return local
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
        let all = prefixGroups(for: requests, groups: groups).sorted { $0.rows > $1.rows }
        var scores = [Score?](repeating: nil, count: requests.count)
        for (index, request) in requests.enumerated() where request.input(maxLength: maxLength).scoredCount == 0 {
            scores[index] = Score(logLikelihood: 0, greedy: true, tokens: 0)
        }
        let longest = all.flatMap { g in g.branches.map { g.prefix.count + $0.tokens.count } }.max() ?? 0
        guard longest > 0 else { return scores.map { $0 ?? Score(logLikelihood: 0, greedy: true, tokens: 0) } }
        guard longest <= model.maxSequenceLength else {
            throw ZeroShotError.sequenceTooLong(tokens: longest, modelLimit: model.maxSequenceLength)
        }
        // Batches of questions (largest first) whose hidden states fit the activation budget.
        var batches: [[PrefixGroup]] = []
        var current: [PrefixGroup] = [], currentRows = 0
        for group in all {
            if !current.isEmpty, (currentRows + group.rows) * d * MemoryLayout<Float>.size > activationBudget {
                batches.append(current)
                (current, currentRows) = ([], 0)
            }
            current.append(group)
            currentRows += group.rows
        }
        if !current.isEmpty { batches.append(current) }

        let total = all.reduce(0) { $0 + $1.rows } * (c.layerCount + 1)
        var done = 0
        let workspace = BlockWorkspace(configuration: c, capacity: longest, threads: threads)
        let kept = KeyValuePrefix(configuration: c, capacity: longest)
        threads.applyToBLAS()
        progress(Progress(done: 0, total: total))
        for batch in batches {
            // One buffer for the batch: each group's prefix rows, then its branches' rows.
            let batchRows = batch.reduce(0) { $0 + $1.rows }
            let hidden = UnsafeMutablePointer<Float>.allocate(capacity: batchRows * d)
            defer { hidden.deallocate() }
            var offsets: [(prefix: Int, branches: [Int])] = []
            var row = 0
            for group in batch {
                let prefixRow = row
                if !group.prefix.isEmpty { try model.embed(group.prefix, into: hidden + row * d) }
                row += group.prefix.count
                var branchRows: [Int] = []
                for branch in group.branches {
                    try model.embed(branch.tokens, into: hidden + row * d)
                    branchRows.append(row)
                    row += branch.tokens.count
                }
                offsets.append((prefixRow, branchRows))
            }
            for index in 0..<c.layerCount {
                let layer = try model.layer(index)
                for (group, offset) in zip(batch, offsets) {
                    if group.prefix.isEmpty {
                        for (branch, start) in zip(group.branches, offset.branches) {
                            layer.forward(hidden + start * d, tokens: branch.tokens.count, workspace: workspace)
                        }
                    } else {
                        layer.forward(hidden + offset.prefix * d, tokens: group.prefix.count, workspace: workspace, keep: kept)
                        for (branch, start) in zip(group.branches, offset.branches) {
                            layer.forward(hidden + start * d, tokens: branch.tokens.count, workspace: workspace, prefix: kept)
                        }
                    }
                }
                done += batchRows
                progress(Progress(done: done, total: total))
            }
            for (group, offset) in zip(batch, offsets) {
                for (branch, start) in zip(group.branches, offset.branches) {
                    for (request, score) in headScores(model: model, hidden: hidden + start * d, sequence: branch) {
                        scores[request] = score
                    }
                }
            }
            done += batchRows
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
