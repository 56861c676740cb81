import Evaluation
import Jobs
import Foundation
import Kernels
import Transformer

/// `dlp perplexity MODEL --dataset ...`: the standard perplexity protocol.
struct PerplexityCommand: Command {
    static let name = "perplexity"
    static let summary = "perplexity on WikiText-2, PTB, C4 or any text (non-overlapping windows)"
    static let synopsis = "usage: dlp perplexity MODEL --dataset SPEC [--seqlen 2048] [--max-windows N] [--adapter DIR] [--precision f32|bf16] [--threads N] [--json]"
    static let dataset = Option("--dataset", "SPEC", """
        wikitext2:PATH  WikiText-2 raw test file (lines joined with "\\n\\n")
        ptb[:PATH]      PTB test (default: the fetched copy)
        c4[:PATH]       C4 documents, one per line (default: the fetched excerpt; 256 windows)
        text:PATH       any UTF-8 text as is
        """)
    static let seqlen = Option("--seqlen", "T", "window length in tokens (default 2048)")
    static let maxWindows = Option("--max-windows", "N", "score only the first N windows")
    static let json = Option("--json", nil, "the result as JSON on stdout")
    static let options = [modelArgument, dataset, seqlen, maxWindows] + AdapterOptions.options + [precisionOption, threadsOption, json]
    static let footer = "Progress goes to stderr. Protocol: \(PerplexityEvaluation.protocolDescription)."
    let job: PerplexityJob
    let json: Bool

    init(arguments: inout Arguments) throws {
        json = arguments.flag(Self.json)
        let sequenceLength = try arguments.value(Self.seqlen, positiveInt) ?? 2048
        let maxWindows = try arguments.value(Self.maxWindows, positiveInt)
        let threads = try arguments.value(threadsOption, positiveInt)
        guard let dataset = try arguments.value(Self.dataset, { try PerplexityDataset.parse($0, home: ModelReference.home()) }) else {
            throw UsageError("--dataset is required")
        }
        job = PerplexityJob(model: try arguments.positional(modelArgument), dataset: dataset, sequenceLength: sequenceLength,
                            maxWindows: maxWindows, threads: threads, adapter: try AdapterOptions.settings(&arguments),
                            precision: try arguments.value(precisionOption, parsePrecision))
        try asUsageError { try job.validate() }
    }

    func run() throws {
        let result = try job.run(observer: .terminal())
        if json {
            try printJSON(result)
        } else {
            print("""
                \(result.dataset) perplexity \(String(format: "%.4f", result.perplexity))  (\(URL(fileURLWithPath: result.model).lastPathComponent)\(job.adapter.map { " + adapter \($0.path)" } ?? ""))
                  protocol   \(result.protocol)
                  text       \(result.path): \(result.assembly), \(result.textTokens) tokens
                  windows    \(result.windows) × \(result.sequenceLength) tokens, \(result.scoredPredictions) predictions scored
                  mean NLL   \(String(format: "%.6f", result.meanNegativeLogLikelihood)) nats
                  speed      \(String(format: "%.0f", result.tokensPerSecond)) tokens/s over \(String(format: "%.1f", result.forwardSeconds)) s, \(result.threads) threads, \(result.precision ?? .f32) products
                """)
        }
    }
}
