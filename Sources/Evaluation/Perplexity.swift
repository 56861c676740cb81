import Foundation
import Kernels
import Tokenization
import Transformer

/// Perplexity by the protocol of `DLP-METHOD.md` §8: tokenize the assembled text once, cut it
/// into non-overlapping windows of `T` tokens (the remainder is dropped), score every next-token
/// prediction inside each window (positions 1…T−1 given their prefix), and report
/// `exp(mean over windows of the window's mean negative log-likelihood)`, accumulated in Double.
public struct PerplexityEvaluation: Sendable {
    public var sequenceLength: Int
    /// Score at most this many windows (nil: all the protocol allows).
    public var maxWindows: Int?
    public var threads: ComputeThreads
    /// Bytes of hidden states kept at once; windows are processed in groups that fit.
    public var activationBudget: Int
    /// The number format of the linear layers' and the LM head's products.
    public var precision: ComputePrecision

    public init(sequenceLength: Int = 2048, maxWindows: Int? = nil, threads: ComputeThreads = .allAvailable,
                activationBudget: Int = 2 << 30, precision: ComputePrecision = .f32) {
        self.sequenceLength = sequenceLength
        self.maxWindows = maxWindows
        self.threads = threads
        self.activationBudget = activationBudget
        self.precision = precision
    }

    /// The protocol, named in every report.
    public static let protocolDescription =
        "non-overlapping windows, every next-token prediction inside a window scored, exp(mean of window mean NLL)"

    /// Cuts `tokens` into the windows the protocol scores.
    public func windows(_ tokens: [Int32], limit: Int?) -> [[Int32]] {
        var count = tokens.count / sequenceLength
        if let limit { count = min(count, limit) }
        if let maxWindows { count = min(count, maxWindows) }
        return (0..<count).map { Array(tokens[($0 * sequenceLength)..<(($0 + 1) * sequenceLength)]) }
    }

    /// Mean next-token NLL of each window, walking the model block by block over groups of windows.
    public func windowLosses(model: LanguageModel, windows: [[Int32]],
                             progress: (EvaluationProgress) -> Void = { _ in }) throws -> [Double] {
        let c = model.configuration, t = sequenceLength
        let perWindow = t * c.hiddenSize * MemoryLayout<Float>.size
        let groupSize = max(1, min(windows.count, activationBudget / perWindow))
        let groups = stride(from: 0, to: windows.count, by: groupSize).map { Array(windows[$0..<min($0 + groupSize, windows.count)]) }
        let workspace = BlockWorkspace(configuration: c, capacity: t, threads: threads, precision: precision)
        let total = groups.count * (c.layerCount + 1)
        var done = 0
        var losses = [Double]()
        let tokensPerStep = Double(windows.count * t) / Double(total)
        func report() { progress(EvaluationProgress(done: done, total: total, tokensPerStep: tokensPerStep)) }
        threads.applyToBLAS()
        report()   // starts a progress bar's clock before the first block, so its first rate is true
        for group in groups {
            let buffer = ActivationBuffer(sequences: group.count, tokens: t, hiddenSize: c.hiddenSize)
            try model.embed(group, into: buffer)
            try model.runBlocks(buffer, workspace: workspace) { _ in done += 1; report() }
            for (i, window) in group.enumerated() {
                // Position p predicts token p + 1; the last position has no target in the window.
                let targets = Array(window.dropFirst()) + [-1]
                let nll = model.negativeLogLikelihoods(buffer.sequence(i), tokens: t, targets: targets, threads: threads,
                                                       precision: precision)
                losses.append(nll.reduce(0, +) / Double(t - 1))
            }
            done += 1
            report()
        }
        return losses
    }

    /// Runs the whole protocol on `dataset`.
    public func evaluate(model: LanguageModel, tokenizer: any Tokenizer, dataset: PerplexityDataset,
                         progress: (EvaluationProgress) -> Void = { _ in }) throws -> PerplexityResult {
        let start = Date()
        let text = try dataset.loadText()
        let tokens = tokenizer.encode(text, addSpecial: true)
        let windows = self.windows(tokens, limit: dataset.windowLimit)
        guard !windows.isEmpty else {
            throw EvaluationError.tooShort(dataset: dataset.name, tokens: tokens.count, sequenceLength: sequenceLength)
        }
        let tokenizeSeconds = Date().timeIntervalSince(start)
        let forwardStart = Date()
        let losses = try windowLosses(model: model, windows: windows, progress: progress)
        let seconds = Date().timeIntervalSince(forwardStart)
        let mean = losses.reduce(0, +) / Double(losses.count)
        return PerplexityResult(
            protocol: Self.protocolDescription, dataset: dataset.name, path: dataset.url.path, assembly: dataset.assembly,
            model: model.checkpoint.url.path, textTokens: tokens.count, sequenceLength: sequenceLength,
            windows: windows.count, scoredPredictions: windows.count * (sequenceLength - 1),
            meanNegativeLogLikelihood: mean, perplexity: Foundation.exp(mean), windowLosses: losses,
            tokenizeSeconds: tokenizeSeconds, forwardSeconds: seconds,
            tokensPerSecond: Double(windows.count * sequenceLength) / seconds, threads: threads.count,
            precision: precision)
    }
}

/// A perplexity measurement with everything needed to reproduce and compare it.
public struct PerplexityResult: Sendable, Codable {
    public var `protocol`: String
    public var dataset: String
    public var path: String
    public var assembly: String
    public var model: String
    /// Tokens in the assembled text (before cutting windows).
    public var textTokens: Int
    public var sequenceLength: Int
    public var windows: Int
    public var scoredPredictions: Int
    public var meanNegativeLogLikelihood: Double
    public var perplexity: Double
    public var windowLosses: [Double]
    public var tokenizeSeconds: Double
    public var forwardSeconds: Double
    /// Window tokens through the whole model per second of forward time.
    public var tokensPerSecond: Double
    public var threads: Int
    /// The products' number format (nil in results written before it was recorded: f32).
    public var precision: ComputePrecision?
}

/// Where a block-by-block evaluation stands: `done` of `total` steps, a step being one block
/// (or the LM head) over one group of windows.
public struct EvaluationProgress: Sendable {
    public var done: Int
    public var total: Int
    /// Window tokens one step stands for, so throughput can be shown in tokens/s.
    public var tokensPerStep: Double
}
