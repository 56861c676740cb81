import Foundation
import Inference
import Kernels
import Sparse
import Transformer

/// Text generation from one prompt (`dlp generate`): the model's weights stored as the settings
/// say (dense or sparse, value type), the prompt optionally wrapped as a chat turn.
public struct GenerateJob: Sendable, Codable, Equatable {
    public var model: String
    public var prompt: String
    /// Wrap the prompt in the model's chat layout (``ChatTemplate``).
    public var chat: Bool
    /// The chat's system message; nil: the template's default.
    public var system: String?
    public var maxTokens: Int
    /// 0: greedy.
    public var temperature: Float
    public var topP: Float
    public var seed: UInt64
    public var sparse: SparseMode
    public var valueType: WeightType
    /// Positions the cache holds; nil: prompt + max tokens, at most the model's context length.
    public var context: Int?
    /// CPU threads; nil: all available.
    public var threads: Int?
    /// A LoRA adapter merged into the weights as they load (nil: none).
    public var adapter: AdapterSettings?

    public init(model: String, prompt: String, chat: Bool = false, system: String? = nil, maxTokens: Int = 128,
                temperature: Float = 0.8, topP: Float = 0.95, seed: UInt64 = 0, sparse: SparseMode = .auto,
                valueType: WeightType = .f32, context: Int? = nil, threads: Int? = nil, adapter: AdapterSettings? = nil) {
        self.model = model
        self.prompt = prompt
        self.chat = chat
        self.system = system
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.topP = topP
        self.seed = seed
        self.sparse = sparse
        self.valueType = valueType
        self.context = context
        self.threads = threads
        self.adapter = adapter
    }

    public func validate() throws {
        func fail(_ setting: String, _ reason: String) -> JobError { JobError.invalidSetting(setting: setting, reason: reason) }
        guard !prompt.isEmpty else { throw fail("prompt", "is empty; give --prompt TEXT or --file PATH") }
        guard maxTokens >= 1 else { throw fail("max-tokens", "expected a positive integer") }
        guard temperature >= 0, temperature.isFinite else { throw fail("temperature", "expected a number ≥ 0 (0: greedy)") }
        guard topP > 0, topP <= 1 else { throw fail("top-p", "expected a number in (0, 1]") }
        if let context, context < 2 { throw fail("context", "expected at least 2 positions") }
        if let threads, threads < 1 { throw fail("threads", "expected a positive integer") }
        if !chat, system != nil { throw fail("system", "applies only with --chat") }
        try adapter?.validate()
    }

    /// What a generation did and how the model was run.
    public struct Report: Sendable, Codable, Equatable {
        public var model: String
        public var result: GenerationResult
        /// The chat layout used, nil without `--chat`.
        public var chatLayout: String?
        public var valueType: WeightType
        public var sparseMode: SparseMode
        public var sparseLinears: Int
        public var linears: Int
        /// Bytes of block linears and LM head read per generated token.
        public var blockLinearBytes: Int
        public var headBytes: Int
        public var threads: Int
        public var kernel: String
    }

    /// Loads the model, generates, and hands text to `onText` as it is produced. `onStart`
    /// receives the report's settings part (result empty) once the model is loaded.
    public func run(onStart: (Report) -> Void = { _ in }, onText: (String) -> Void = { _ in },
                    onNote: (String) -> Void = { _ in }) throws -> Report {
        let checkpoint = try Checkpoint.open(model)
        let applied = try adapter?.apply(to: checkpoint)
        if let applied {
            guard applied.finalNorm == nil else {
                throw JobError.invalidSetting(setting: "adapter", reason: "\(adapter!.path) trains the norm gains, which generate cannot apply unmerged; generate from the merged model (dlp finetune --merge)")
            }
            onNote(applied.summary)
        }
        let tokenizer = try checkpoint.tokenizer()
        var layout: ChatTemplate?
        if chat { layout = try ChatTemplate.detect(template: checkpoint.chatTemplate(), tokenizer: tokenizer) }
        let text = layout.map { $0.render(user: prompt, system: system) } ?? prompt
        let ids = tokenizer.encode(text, addSpecial: true)
        let limit = max(checkpoint.configuration.contextLength, 2)
        let capacity = context ?? min(ids.count + maxTokens, limit)
        guard ids.count < capacity else { throw GenerationError.promptTooLong(tokens: ids.count, context: capacity) }
        let estimate = InferenceMemoryEstimate.generation(configuration: checkpoint.configuration, capacity: capacity,
                                                          weightBytesPerParameter: Int((valueType.denseBitsPerWeight / 8).rounded(.up)),
                                                          mappedModelBytes: ModelSummary.diskSize(checkpoint.url))
        try JobError.checkMemory(needed: estimate.total, detail: "\(estimate.dominantPart.name) \(formatBytes(estimate.dominantPart.bytes))",
                                 remedy: "lower --context or --max-tokens")
        let computeThreads = threads.map(ComputeThreads.init) ?? .allAvailable
        computeThreads.applyToBLAS()
        let decoder = try IncrementalDecoder.load(checkpoint, settings: DecodeSettings(valueType: valueType, sparse: sparse),
                                                  capacity: capacity, threads: computeThreads, blockWeights: applied?.blocks)
        let counts = decoder.sparseLinearCount
        var report = Report(model: checkpoint.url.path,
                            result: GenerationResult(promptTokens: ids.count, tokens: [], text: "", stop: .maxTokens,
                                                     prefillSeconds: 0, decodeSeconds: 0),
                            chatLayout: layout?.origin, valueType: valueType, sparseMode: sparse,
                            sparseLinears: counts.sparse, linears: counts.total, blockLinearBytes: decoder.blockLinearBytes,
                            headBytes: decoder.head.weightBytes, threads: computeThreads.count,
                            kernel: valueType.quantizedType != nil ? QuantizedKernel.best.rawValue : SparseKernel.best(for: valueType.floatType!).rawValue)
        onStart(report)
        let generator = TextGenerator(decoder: decoder, tokenizer: tokenizer,
                                      stopTokens: TextGenerator.defaultStopTokens(tokenizer))
        report.result = try generator.generate(prompt: ids, maxTokens: maxTokens,
                                               sampler: Sampler(temperature: temperature, topP: topP, seed: seed),
                                               onText: onText)
        return report
    }
}
