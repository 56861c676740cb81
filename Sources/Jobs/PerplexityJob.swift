import Evaluation
import Foundation
import Kernels
import Transformer

/// Perplexity of one model on one dataset by the standard protocol (`dlp perplexity`).
public struct PerplexityJob: Sendable, Codable, Equatable {
    public var model: String
    public var dataset: PerplexityDataset
    public var sequenceLength: Int
    /// Score only the first N windows (nil: all the protocol scores).
    public var maxWindows: Int?
    /// CPU threads; nil: all available.
    public var threads: Int?
    /// A LoRA adapter applied to the model (nil: none; job files written before it decode as nil).
    public var adapter: AdapterSettings?
    /// The products' number format (nil: f32; job files written before it decode as nil).
    public var precision: ComputePrecision?

    public init(model: String, dataset: PerplexityDataset, sequenceLength: Int = 2048, maxWindows: Int? = nil,
                threads: Int? = nil, adapter: AdapterSettings? = nil, precision: ComputePrecision? = nil) {
        self.precision = precision
        self.model = model
        self.dataset = dataset
        self.sequenceLength = sequenceLength
        self.maxWindows = maxWindows
        self.threads = threads
        self.adapter = adapter
    }

    public func validate() throws {
        guard sequenceLength >= 2 else { throw JobError.invalidSetting(setting: "seqlen", reason: "must be at least 2") }
        if let maxWindows, maxWindows < 1 { throw JobError.invalidSetting(setting: "max-windows", reason: "expected a positive integer") }
        if let threads, threads < 1 { throw JobError.invalidSetting(setting: "threads", reason: "expected a positive integer") }
        if let reason = precision?.unsupportedReason { throw JobError.invalidSetting(setting: "precision", reason: reason) }
        guard FileManager.default.isReadableFile(atPath: dataset.url.path) else {
            throw JobError.invalidSetting(setting: "dataset \(dataset.name)", reason: "cannot read \(dataset.url.path)")
        }
        try adapter?.validate()
    }

    public func run(observer: JobObserver = .silent) throws -> PerplexityResult {
        let checkpoint = try Checkpoint.open(model)
        let evaluation = PerplexityEvaluation(sequenceLength: sequenceLength, maxWindows: maxWindows,
                                              threads: threads.map(ComputeThreads.init) ?? .allAvailable,
                                              precision: precision ?? .f32)
        try Self.checkMemory(checkpoint, sequenceLength: sequenceLength, activationBudget: evaluation.activationBudget,
                             remedy: "lower --seqlen")
        let tokenizer = try checkpoint.tokenizer()
        let languageModel = try Self.languageModel(checkpoint, maxSequenceLength: sequenceLength, adapter: adapter, observer: observer)
        return try evaluation.evaluate(model: languageModel, tokenizer: tokenizer, dataset: dataset) { step in
            observer.progress(JobProgress(task: "perplexity", done: step.done, total: step.total,
                                          unitsPerStep: step.tokensPerStep, unit: "tok"))
        }
    }

    /// The model of `checkpoint`, with `adapter` merged into its blocks as they load.
    static func languageModel(_ checkpoint: Checkpoint, maxSequenceLength: Int, adapter: AdapterSettings?,
                              observer: JobObserver) throws -> LanguageModel {
        let model = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: maxSequenceLength)
        guard let adapter else { return model }
        let applied = try adapter.apply(to: checkpoint)
        observer.note(applied.summary)
        return model.replacingBlocks(applied.blocks, finalNorm: applied.finalNorm)
    }

    /// Refuses (``JobError/insufficientMemory(needed:available:detail:remedy:)``) an evaluation of
    /// sequences of `sequenceLength` tokens whose ``InferenceMemoryEstimate`` exceeds 90% of the
    /// machine's memory, before anything is decoded.
    static func checkMemory(_ checkpoint: Checkpoint, sequenceLength: Int, activationBudget: Int, remedy: String,
                            available: Int = Int(ProcessInfo.processInfo.physicalMemory)) throws {
        let estimate = InferenceMemoryEstimate.evaluation(configuration: checkpoint.configuration, sequenceLength: sequenceLength,
                                                          activationBudget: activationBudget,
                                                          mappedModelBytes: ModelSummary.diskSize(checkpoint.url))
        try JobError.checkMemory(needed: estimate.total, detail: "\(estimate.dominantPart.name) \(formatBytes(estimate.dominantPart.bytes))",
                                 remedy: remedy, available: available)
    }
}
