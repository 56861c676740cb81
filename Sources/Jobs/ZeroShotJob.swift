import Evaluation
import Foundation
import Kernels
import Transformer

/// Zero-shot accuracy of one model on a list of tasks (`dlp eval`).
public struct ZeroShotJob: Sendable, Codable, Equatable {
    public var model: String
    public var tasks: [ZeroShotTask]
    /// Where `<task>.jsonl` live.
    public var dataDirectory: String
    /// Only the first N questions of each task (nil: all).
    public var limit: Int?
    /// Longest model input in tokens.
    public var maxLength: Int
    /// CPU threads; nil: all available.
    public var threads: Int?
    /// Keep per-question log-likelihoods in the report.
    public var keepDetails: Bool
    /// A LoRA adapter applied to the model (nil: none; job files written before it decode as nil).
    public var adapter: AdapterSettings?
    /// The block linears' products (nil: f32; job files written before it decode as nil).
    public var precision: ComputePrecision?

    public init(model: String, tasks: [ZeroShotTask] = ZeroShotTask.paperTasks,
                dataDirectory: String = ZeroShotDataset.defaultDirectory(home: ModelReference.home()).path,
                limit: Int? = nil, maxLength: Int = 2048, threads: Int? = nil, keepDetails: Bool = false,
                adapter: AdapterSettings? = nil, precision: ComputePrecision? = nil) {
        self.precision = precision
        self.model = model
        self.tasks = tasks
        self.dataDirectory = dataDirectory
        self.limit = limit
        self.maxLength = maxLength
        self.threads = threads
        self.keepDetails = keepDetails
        self.adapter = adapter
    }

    public func validate() throws {
        guard !tasks.isEmpty else { throw JobError.invalidSetting(setting: "tasks", reason: "name at least one task") }
        guard maxLength >= 2 else { throw JobError.invalidSetting(setting: "max-length", reason: "must be at least 2") }
        if let limit, limit < 1 { throw JobError.invalidSetting(setting: "limit", reason: "expected a positive integer") }
        if let threads, threads < 1 { throw JobError.invalidSetting(setting: "threads", reason: "expected a positive integer") }
        if let reason = precision?.unsupportedReason { throw JobError.invalidSetting(setting: "precision", reason: reason) }
        try adapter?.validate()
        for task in tasks {
            let file = ZeroShotDataset.url(for: task, in: URL(fileURLWithPath: dataDirectory))
            guard FileManager.default.isReadableFile(atPath: file.path) else {
                throw JobError.invalidSetting(setting: "data-dir",
                                              reason: ZeroShotError.missingTaskFile(path: file.path, task: task.rawValue).description)
            }
        }
    }

    public func run(observer: JobObserver = .silent) throws -> ZeroShotReport {
        let checkpoint = try Checkpoint.open(model)
        let scorer = ZeroShotScorer(maxLength: maxLength, threads: threads.map(ComputeThreads.init) ?? .allAvailable,
                                    precision: precision ?? .f32)
        try PerplexityJob.checkMemory(checkpoint, sequenceLength: maxLength, activationBudget: scorer.activationBudget,
                                      remedy: "lower --max-length")
        let tokenizer = try checkpoint.tokenizer()
        let languageModel = try PerplexityJob.languageModel(checkpoint, maxSequenceLength: maxLength, adapter: adapter, observer: observer)
        let evaluation = ZeroShotEvaluation(scorer: scorer, limit: limit, keepDetails: keepDetails)
        return try evaluation.evaluate(tasks: tasks, directory: URL(fileURLWithPath: dataDirectory), model: languageModel,
                                       tokenizer: tokenizer) { step in
            observer.progress(JobProgress(task: step.task.rawValue, done: step.done, total: step.total,
                                          unitsPerStep: Double(step.items) / Double(max(step.total, 1)), unit: "items"))
        }
    }
}
