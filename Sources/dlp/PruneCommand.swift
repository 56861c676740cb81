import Evaluation
import Foundation
import Jobs
import Pruning
import TensorCore
import Transformer

/// `dlp prune MODEL ... --output DIR`: the main job. Parses the options into a ``PruneJob`` and
/// runs it; everything the job does is in the `Jobs` module.
struct PruneCommand: Command {
    static let name = "prune"
    static let summary = "prune a model (DLP, OWL, ramp or uniform × magnitude, Wanda or SparseGPT) and export it"
    static let synopsis = "usage: dlp prune MODEL --output DIR [--method magnitude|wanda|sparsegpt] [options]"
    static let output = Option("--output", "DIR", "where the pruned model, manifest.json, report.md and sparsity.svg go")
    static let force = Option("--force", nil, "replace DIR if it exists")
    static let method = Option("--method", "M", "magnitude | wanda (default) | sparsegpt")
    static let evaluate = Option("--evaluate", "D[,D...]", "perplexity before and after pruning: wikitext2:PATH | ptb[:PATH] | c4[:PATH] | text:PATH")
    static let evalSeqlen = Option("--eval-seqlen", "T", "evaluation window (default 2048)")
    static let evalWindows = Option("--eval-windows", "N", "evaluate only the first N windows (default all)")
    static let ggufType = Option("--gguf-dtype", PruneJob.ggufTypes.map { $0.rawValue.lowercased() }.joined(separator: "|"), "element type of pruned linears in model.gguf (default f32): only types\nthat keep zeros (q4_1, q5_1, q4_k, q5_k are refused); a row that is not a multiple of the block\nfalls back as llama-quantize does (q6_k → q8_0 → f16), listed in manifest.json")
    static let quantize = Option("--quantize", JointQuantization.allCases.map(\.rawValue).joined(separator: "|"),
                                 "quantize the kept weights jointly with pruning on this GGUF type's grid (GPTQ, symmetric\ngroups of 32 inputs; sparsegpt inside its OBS loop, wanda and magnitude with their mask fixed,\nboth from the calibration Hessian); model.gguf stores the pruned linears in this type unchanged\n(it sets --gguf-dtype; another --gguf-dtype is refused); pruned weights stay exactly 0")
    static let formats = Option("--formats", "gguf,safetensors,sparse",
                                "what to export (default gguf,safetensors; gguf needs a GGUF input; sparse: sparse/,\nthe block linears in the compressed-tensors sparse-bitmask layout)")
    static let json = Option("--json", nil, "print the manifest as JSON on stdout")
    static let options = [modelArgument, output, force, method] + PruningOptions.options + CalibrationOptions.options
        + [evaluate, evalSeqlen, evalWindows, ggufType, quantize, formats, ExportOptions.sparseType, precisionOption, json]
    static let interruptedMessage = "the unfinished output was removed and nothing was written to --output; run the same command again (cached allocation ratios are kept)"
    static let footer = """
        Outputs in DIR: model.gguf (the input's names and metadata; dlp perplexity/eval accept DIR),
        hf/ (config.json, model.safetensors and tokenizer files for transformers), sparse/ (with --formats sparse:
        hf/ with the block linears stored as bitmask + non-zeros, which dlp and compressed-tensors 0.14 read;
        `dlp convert DIR` adds it later), manifest.json, report.md, sparsity.svg.
        Writing is atomic: everything is written to a temporary directory beside DIR, then renamed.
        """
    let job: PruneJob
    let json: Bool

    init(arguments: inout Arguments) throws {
        json = arguments.flag(Self.json)
        let force = arguments.flag(Self.force)
        let method = try arguments.value(Self.method) { try PruningMethod.parse($0) } ?? .wanda
        guard let output = try arguments.value(Self.output) else { throw UsageError("--output DIR is required") }
        let home = ModelReference.home()
        let evaluations = try arguments.value(Self.evaluate) { text in
            try text.split(separator: ",").map { try PerplexityDataset.parse(String($0), home: home) }
        } ?? []
        let evalLength = try arguments.value(Self.evalSeqlen, positiveInt) ?? 2048
        let evalWindows = try arguments.value(Self.evalWindows, positiveInt)
        let quantization = try arguments.value(Self.quantize) { try JointQuantization.parse($0) }
        let explicitGGUFType = try arguments.value(Self.ggufType) { (text: String) throws -> DType in
            do { return try PruneJob.parseGGUFType(text) } catch let error as JobError {
                guard case let .invalidSetting(_, reason) = error else { throw error }
                throw UsageError(reason)
            }
        }
        if let quantization, let explicitGGUFType, explicitGGUFType != quantization.dtype {
            throw UsageError("--quantize \(quantization.rawValue) and --gguf-dtype \(explicitGGUFType.rawValue.lowercased()) conflict: --quantize stores the pruned linears as \(quantization.rawValue) (it sets the GGUF type); leave out --gguf-dtype or give \(quantization.rawValue)")
        }
        let ggufType = explicitGGUFType ?? quantization?.dtype ?? .f32
        let formats = try ExportOptions.formats(Self.formats, &arguments, defaults: PruneJob.ExportFormat.defaults)
        let sparseType = try ExportOptions.sparseType(&arguments)
        let precision = try arguments.value(precisionOption, parsePrecision)
        let options = try PruningOptions(arguments: &arguments)
        let calibration = try CalibrationOptions.settings(&arguments)
        job = PruneJob(model: try arguments.positional(modelArgument), method: method, allocation: options.allocation,
                       target: options.target, pattern: options.pattern, quantization: quantization, calibration: calibration,
                       threads: options.threads,
                       reuseCachedAllocation: options.reuseCache, evaluations: evaluations,
                       evaluationSequenceLength: evalLength, evaluationWindows: evalWindows,
                       exports: .init(formats: formats, ggufType: ggufType, sparseType: sparseType), output: output, replaceExisting: force,
                       command: CommandLine.arguments, precision: precision)
        try asUsageError { try job.validate() }
    }

    func run() throws {
        let manifest = try asUsageError { try job.run(observer: .terminal()) }
        if json {
            try printJSON(manifest)
        } else {
            print(Self.summary(manifest, directory: job.outputURL))
        }
    }

    static func summary(_ m: PruningManifest, directory: URL) -> String {
        var lines = ["pruned \(URL(fileURLWithPath: m.model.path).lastPathComponent): \(m.settings.method.rawValue) + \(m.settings.allocation), target \(String(format: "%.1f%%", m.settings.targetSparsity * 100)), measured \(String(format: "%.2f%%", m.overallSparsity * 100)) of \(m.model.prunableParameters) block-linear weights"]
        let ratios = m.blocks.map(\.requestedRatio)
        if let q = m.settings.quantization, let stored = m.storedSparsity {
            lines.append(String(format: "  jointly quantized to %@: %.2f%% of the written weights are 0 (mask plus kept weights quantized to 0)",
                                q.rawValue, stored * 100))
        }
        lines.append(String(format: "  per-block ratios %.3f … %.3f (block 0: %.3f, last: %.3f)", ratios.min() ?? 0, ratios.max() ?? 0, ratios.first ?? 0, ratios.last ?? 0))
        for e in m.evaluation {
            lines.append("  \(e.dataset) perplexity: dense \(e.densePerplexity.map { String(format: "%.3f", $0) } ?? "—") → pruned \(String(format: "%.3f", e.prunedPerplexity)) (\(e.windows) × \(e.sequenceLength))")
        }
        lines.append(String(format: "  time %.1f s, peak memory %.0f MiB", m.timings["total"] ?? 0, Double(m.peakResidentBytes) / 1_048_576)
                     + (m.memoryEstimate.map { String(format: " (estimated %.0f MiB)", Double($0.total) / 1_048_576) } ?? ""))
        let (allocation, pruning) = m.meanBlockSeconds
        if let allocation { lines.append("  allocation pass per block: " + PruningReport.blockSecondsText(allocation, scoring: "statistics")) }
        if let pruning { lines.append("  pruning pass per block: " + PruningReport.blockSecondsText(pruning, scoring: "pruner")) }
        lines.append("  wrote \(directory.path): " + (m.outputs.map(\.file) + ["manifest.json", "report.md", "sparsity.svg"]).joined(separator: ", "))
        return lines.joined(separator: "\n")
    }
}
