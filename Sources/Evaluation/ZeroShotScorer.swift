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
///   context): that common prefix runs once, and each sequence's remaining tokens (a branch)
///   run after it with attention over the prefix's keys and values (``PackedSegment``). The
///   prefix stops before the first scored position, so every score comes from a branch. Exact
///   up to float rounding: attention sees the same keys and values.
/// * Whole questions are packed row after row into chunks of up to ``packedRows`` rows, and each
///   block runs a chunk as one call: the linear layers see every row of the chunk at once, so
///   short sequences cost GEMM time, not one pass over the weights each. Chunks are walked block
///   by block in batches (each block decoded once per batch) within the activation budget.
/// * Logits are computed only at the scored positions, gathered across a chunk.
///
/// Letters: L window, T tokens of a sequence, D hidden, V vocabulary.
public struct ZeroShotScorer: Sendable {
    /// Longest model input `L` (longer inputs keep their last `L` tokens, as in the harness).
    public var maxLength: Int
    public var threads: ComputeThreads
    /// Bytes of hidden states held at once (`Σ T_max · D · 4` over a batch).
    public var activationBudget: Int

    /// Rows packed into one block call (at least the longest sequence).
    public var packedRows = 2048
    /// Whether a question's common prefix runs once (``PrefixGroup``); off, every sequence runs
    /// whole from position 0 (the slower definition, kept to check the shared path against).
    public var sharesPrefixes: Bool
    /// The number format of the block linears' products (the LM head's scores stay f32 here).
    public var precision: ComputePrecision

    public init(maxLength: Int = 2048, threads: ComputeThreads = .allAvailable, activationBudget: Int = 512 << 20,
                sharesPrefixes: Bool = true, precision: ComputePrecision = .f32) {
        self.precision = precision
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
        // A request with nothing to score (no continuation token left in the window) keeps this.
        let unscored = Score(logLikelihood: 0, greedy: true, tokens: 0)
        var scores = [Score?](repeating: nil, count: requests.count)
        var all = prefixGroups(for: requests, groups: groups)
        let longest = all.flatMap { g in g.branches.map { g.prefix.count + $0.tokens.count } }.max() ?? 0
        guard longest > 0 else { return scores.map { $0 ?? unscored } }
        guard longest <= model.maxSequenceLength else {
            throw ZeroShotError.sequenceTooLong(tokens: longest, modelLimit: model.maxSequenceLength)
        }
        // A question larger than a chunk runs its sequences whole, one chunk each at most.
        let capacity = max(packedRows, longest)
        all = all.flatMap { group -> [PrefixGroup] in
            guard group.rows > capacity else { return [group] }
            return group.branches.map { branch in
                PrefixGroup(prefix: [], branches: [Sequence(tokens: group.prefix + branch.tokens, riders: branch.riders.map {
                    Rider(request: $0.request, start: $0.start + group.prefix.count, targets: $0.targets)
                })])
            }
        }
        all.sort { $0.rows > $1.rows }
        // Chunks of whole questions up to `capacity` rows; batches of chunks within the budget.
        var chunks: [Chunk] = []
        for group in all {
            if chunks.isEmpty || chunks[chunks.count - 1].rows + group.rows > capacity { chunks.append(Chunk()) }
            chunks[chunks.count - 1].append(group)
        }
        var batches: [[Chunk]] = []
        var batchRows = 0
        for chunk in chunks {
            if batches.isEmpty || (batchRows + chunk.rows) * d * MemoryLayout<Float>.size > activationBudget {
                batches.append([])
                batchRows = 0
            }
            batches[batches.count - 1].append(chunk)
            batchRows += chunk.rows
        }

        let total = chunks.reduce(0) { $0 + $1.rows } * (c.layerCount + 1)
        var done = 0
        let workspace = BlockWorkspace(configuration: c, capacity: capacity, threads: threads, precision: precision)
        threads.applyToBLAS()
        progress(Progress(done: 0, total: total))
        for batch in batches {
            let rows = batch.reduce(0) { $0 + $1.rows }
            let hidden = UnsafeMutablePointer<Float>.allocate(capacity: rows * d)
            defer { hidden.deallocate() }
            var offsets: [Int] = []
            var offset = 0
            for chunk in batch {
                offsets.append(offset)
                for (segment, tokens) in zip(chunk.segments, chunk.tokens) {
                    try model.embed(tokens, into: hidden + (offset + segment.start) * d)
                }
                offset += chunk.rows
            }
            for index in 0..<c.layerCount {
                let layer = try model.layer(index)
                for (chunk, offset) in zip(batch, offsets) {
                    layer.forward(packed: hidden + offset * d, segments: chunk.segments, workspace: workspace)
                }
                done += rows
                progress(Progress(done: done, total: total))
            }
            for (chunk, offset) in zip(batch, offsets) {
                for (request, score) in headScores(model: model, hidden: hidden + offset * d, branches: chunk.branches) {
                    scores[request] = score
                }
            }
            done += rows
            progress(Progress(done: done, total: total))
        }
        return scores.map { $0 ?? unscored }
    }

    /// Questions packed into one block call: their segments (prefix, then the branches that
    /// continue it), the tokens of each, and each branch with its first row.
    struct Chunk {
        var segments: [PackedSegment] = []
        var tokens: [[Int32]] = []
        var branches: [(row: Int, sequence: Sequence)] = []
        var rows = 0

        mutating func append(_ group: PrefixGroup) {
            var prefix: Int?
            if !group.prefix.isEmpty {
                prefix = segments.count
                segments.append(PackedSegment(start: rows, count: group.prefix.count))
                tokens.append(group.prefix)
                rows += group.prefix.count
            }
            for branch in group.branches {
                segments.append(PackedSegment(start: rows, count: branch.tokens.count, after: prefix))
                tokens.append(branch.tokens)
                branches.append((rows, branch))
                rows += branch.tokens.count
            }
        }
    }

    /// Rows of logits computed at once (`[rows, V]` floats).
    static let headRows = 256

    /// Final norm and LM head at the positions the branches' riders score (rows of `hidden`
    /// counted from each branch's first row); per rider the summed
    /// `log softmax(logits[p])[target] = logits[p][target] − logsumexp(logits[p])` and greediness.
    func headScores(model: LanguageModel, hidden: UnsafePointer<Float>,
                    branches: [(row: Int, sequence: Sequence)]) -> [(Int, Score)] {
        let v = model.configuration.vocabularySize
        // (rider, row, target) for every scored token.
        var entries: [(rider: Int, row: Int, target: Int)] = []
        var riders: [Rider] = []
        for branch in branches {
            for rider in branch.sequence.riders {
                for (k, target) in rider.targets.enumerated() {
                    entries.append((riders.count, branch.row + rider.start + k, Int(target)))
                }
                riders.append(rider)
            }
        }
        var sums = [Double](repeating: 0, count: riders.count)
        var greedy = [Bool](repeating: true, count: riders.count)
        let rows = Array(Set(entries.map(\.row))).sorted()
        var byRow: [Int: [Int]] = [:]
        for (e, entry) in entries.enumerated() { byRow[entry.row, default: []].append(e) }
        for pieceStart in stride(from: 0, to: rows.count, by: Self.headRows) {
            let piece = Array(rows[pieceStart..<min(pieceStart + Self.headRows, rows.count)])
            let logits = model.logits(hidden, rows: piece)           // [R, V]
            logits.storage.withUnsafeBufferPointer { lb in
                for (i, row) in piece.enumerated() {
                    let values = lb.baseAddress! + i * v
                    let logSumExp = SoftmaxKernel.logSumExp(values, count: v)
                    var best = 0
                    for j in 1..<v where values[j] > values[best] { best = j }
                    for e in byRow[row] ?? [] {
                        let entry = entries[e]
                        sums[entry.rider] += Double(values[entry.target]) - logSumExp
                        greedy[entry.rider] = greedy[entry.rider] && best == entry.target
                    }
                }
            }
        }
        return riders.enumerated().map { r, rider in
            (rider.request, Score(logLikelihood: sums[r], greedy: greedy[r], tokens: rider.targets.count))
        }
    }
}
