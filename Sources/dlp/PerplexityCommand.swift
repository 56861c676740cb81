import Evaluation
import Foundation
import Kernels
import Transformer

/// `dlp perplexity MODEL --dataset ...`: the standard perplexity protocol.
struct PerplexityCommand: Command {
    static let name = "perplexity"
    static let summary = "perplexity on WikiText-2, PTB, C4 or any text (non-overlapping windows)"
    static let usage = """
        usage: dlp perplexity MODEL --dataset wikitext2:PATH | ptb[:PATH] | c4[:PATH] | text:PATH
                              [--seqlen 2048] [--max-windows N] [--threads N] [--json]
          MODEL            a GGUF file, a safetensors directory, or a fetched model's short name
          --dataset        wikitext2:PATH  WikiText-2 raw test file (lines joined with "\\n\\n")
                           ptb[:PATH]      PTB test (default: the fetched copy)
                           c4[:PATH]       C4 documents, one per line (default: the fetched excerpt; 256 windows)
                           text:PATH       any UTF-8 text as is
          --seqlen T       window length in tokens (default 2048)
          --max-windows N  score only the first N windows
          --threads N      CPU threads (default: all available)
          --json           the result as JSON on stdout
        Progress goes to stderr. Protocol: \(PerplexityEvaluation.protocolDescription).
        """
    let model: String
    let dataset: PerplexityDataset
    let evaluation: PerplexityEvaluation
    let json: Bool

    init(arguments: inout Arguments) throws {
        json = arguments.flag("--json")
        let sequenceLength = try arguments.option("--seqlen", positiveInt) ?? 2048
        guard sequenceLength >= 2 else { throw UsageError("--seqlen must be at least 2") }
        let maxWindows = try arguments.option("--max-windows", positiveInt)
        let threads = try arguments.option("--threads", positiveInt).map(ComputeThreads.init) ?? .allAvailable
        guard let spec = try arguments.option("--dataset") else { throw UsageError("--dataset is required") }
        do {
            dataset = try PerplexityDataset.parse(spec, home: ModelReference.home())
        } catch let error as EvaluationError {
            throw UsageError(error.description)
        }
        guard FileManager.default.isReadableFile(atPath: dataset.url.path) else {
            throw UsageError("--dataset \(spec): cannot read \(dataset.url.path)")
        }
        model = try arguments.positional("MODEL")
        evaluation = PerplexityEvaluation(sequenceLength: sequenceLength, maxWindows: maxWindows, threads: threads)
    }

    func run() throws {
        let checkpoint = try Checkpoint.open(model)
        let tokenizer = try checkpoint.tokenizer()
        let languageModel = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: evaluation.sequenceLength)
        let bar = ProgressBar(label: "perplexity", unit: "tok")
        let result = try evaluation.evaluate(model: languageModel, tokenizer: tokenizer, dataset: dataset) { step in
            bar.update(step.done, of: step.total, unitsPerStep: step.tokensPerStep)
        }
        if json {
            try printJSON(result)
        } else {
            print("""
                \(result.dataset) perplexity \(String(format: "%.4f", result.perplexity))  (\(checkpoint.url.lastPathComponent))
                  protocol   \(result.protocol)
                  text       \(result.path): \(result.assembly), \(result.textTokens) tokens
                  windows    \(result.windows) × \(result.sequenceLength) tokens, \(result.scoredPredictions) predictions scored
                  mean NLL   \(String(format: "%.6f", result.meanNegativeLogLikelihood)) nats
                  speed      \(String(format: "%.0f", result.tokensPerSecond)) tokens/s over \(String(format: "%.1f", result.forwardSeconds)) s, \(result.threads) threads
                """)
        }
    }
}
