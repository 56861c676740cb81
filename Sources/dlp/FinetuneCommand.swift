import Evaluation
import Foundation
import Jobs
import Pruning
import Sparse
import TensorCore
import Training
import Transformer

/// `dlp finetune MODEL --output DIR`: LoRA recovery of a pruned model. Parses the options into a
/// ``FinetuneJob`` and runs it; everything the job does is in the `Jobs` module.
struct FinetuneCommand: Command {
    static let name = "finetune"
    static let summary = "LoRA fine-tuning of a (pruned) model on C4, masks kept; PEFT adapter and merged model"
    static let synopsis = "usage: dlp finetune MODEL --output DIR [--tokens N] [--seqlen T] [--lr X] [--rank R] [--alpha A]\n                      [--targets q,v|all|LIST] [--masked|--no-masked] [--merge] [--evaluate D] [--resume] [options]"
    static let output = Option("--output", "DIR", "where adapter/, manifest.json, report.md, loss.svg (and with --merge the merged model) go")
    static let force = Option("--force", nil, "replace DIR if it exists; discard an unfinished run saved in DIR.partial/")
    static let data = Option("--data", "c4|PATH", "training text: the fetched C4 excerpt (default) or a file of documents (one per line,\nor .jsonl with a \"text\" field); the prune's calibration windows are held out")
    static let tokens = Option("--tokens", "N", "training token budget (default 1000000); steps = ⌈N / batch tokens⌉; more than the text\nholds means several passes (recorded)")
    static let seqlen = Option("--seqlen", "T", "tokens per training sequence (default 1024)")
    static let batchTokens = Option("--batch-tokens", "N", "tokens per optimizer step, a multiple of T, reached by gradient accumulation\n(default \(FinetuneJob.defaultSequencesPerStep) × T; the GPU recipe's 128 × 1024 leaves few steps on a CPU budget)")
    static let lr = Option("--lr", "X", "peak learning rate (default 1e-4)")
    static let warmup = Option("--warmup", "N", "linear warm-up steps (default 5)")
    static let schedule = Option("--schedule", "linear|cosine|constant",
                                 "after the warm-up: decay to 0 (linear, the default; cosine) or hold the peak (constant)")
    static let rank = Option("--rank", "R", "LoRA rank r (default 8)")
    static let alpha = Option("--alpha", "A", "LoRA α; the update is scaled by α/r (default 16)")
    static let dropout = Option("--dropout", "P", "dropout on the adapters' input while training (default 0.05)")
    static let targets = Option("--targets", "LIST", "linears with an adapter: q,v (default), all, or a list of q, k, v, o, gate, up, down")
    static let masked = Option("--masked", nil, "update (B·A) ⊙ mask, so every pruned zero stays zero, also after --merge (default)")
    static let unmasked = Option("--no-masked", nil, "plain LoRA update B·A (merging it fills the pruned zeros: the model is no longer sparse)")
    static let trainNorms = Option("--train-norms", nil, "train the RMSNorm gains too (saved in adapter/norm_gains.safetensors)")
    static let keepActivations = Option("--keep-activations", nil,
                                        "keep every block's activations instead of recomputing them in the backward pass: the same\nresult, about a tenth faster, for T·(10·max(D, F) + H·T) values per block more memory (0.9 GiB for\nSmolLM2-135M at T = 512)")
    static let maxGradNorm = Option("--max-grad-norm", "X", "clip the global gradient norm (default 1.0)")
    static let weightDecay = Option("--weight-decay", "X", "AdamW's decoupled weight decay on the LoRA matrices (default 0, transformers Trainer's,\nwhich the Wanda/OWL recipe keeps)")
    static let seed = Option("--seed", "S", "seed of the adapters' initialisation, data order, dropout and the held-out split (default 0)")
    static let heldOut = Option("--held-out", "N", "windows of T kept out of training for the held-out loss (default 8; 0: none)")
    static let evalEvery = Option("--eval-every", "K", "held-out loss every K steps (default 10), and before the first and after the last")
    static let saveEvery = Option("--save-every", "K", "save the training state in DIR.partial/ every K steps (default 10; also on SIGINT/SIGTERM)")
    static let evaluate = Option("--evaluate", "D[,D...]", "perplexity before and after (merged weights): wikitext2:PATH | ptb[:PATH] | c4[:PATH] | text:PATH")
    static let evalSeqlen = Option("--eval-seqlen", "T", "evaluation window (default 2048)")
    static let evalWindows = Option("--eval-windows", "N", "evaluate only the first N windows (default all)")
    static let merge = Option("--merge", nil, "also write the merged model: model.gguf (GGUF input), hf/, and sparse/ with --formats")
    static let formats = Option("--formats", "gguf,safetensors,sparse", "with --merge: what to write (default gguf,safetensors)")
    static let ggufType = Option("--gguf-dtype", PruneJob.ggufTypes.map { $0.rawValue.lowercased() }.joined(separator: "|"),
                                 "with --merge: element type of the block linears in model.gguf (default f32)")
    static let resume = Option("--resume", nil, "continue the unfinished run saved in DIR.partial/ (same settings): bit-identical\nto a run that was not stopped")
    static let json = Option("--json", nil, "print the manifest as JSON on stdout")
    static let options = [modelArgument, output, force, data, tokens, seqlen, batchTokens, lr, warmup, schedule, rank, alpha, dropout,
                          targets, masked, unmasked, trainNorms, keepActivations, maxGradNorm, weightDecay, seed, heldOut, evalEvery, saveEvery,
                          evaluate, evalSeqlen, evalWindows, merge, formats, ggufType, ExportOptions.sparseType, resume, threadsOption, json]
    static let interruptedMessage = "once training has started, the state after the last finished step is saved in DIR.partial/: run the same command with --resume to continue it (nothing was written to DIR)"
    static let footer = """
        Outputs in DIR: adapter/ (adapter_config.json and adapter_model.safetensors in Hugging Face PEFT's format, which
        peft.PeftModel.from_pretrained loads onto DIR's input hf/; dlp_adapter.json), manifest.json (settings, data split,
        loss curve, held-out losses, zero counts per matrix before and after merging), report.md, loss.svg; with --merge the
        merged model as dlp prune writes it. dlp perplexity|eval|generate MODEL --adapter DIR/adapter apply the adapter
        unmerged. A masked adapter loaded by peft applies B·A unmasked: only the merged model equals dlp's masked one.
        Writing is atomic (a temporary directory beside DIR, then renamed).
        Example: dlp prune smollm2-135m --allocation dlp --output out/p70 && dlp finetune out/p70 --output out/p70-lora --tokens 500000 --merge --evaluate wikitext2:wiki.test.raw
        """
    let job: FinetuneJob
    let json: Bool

    init(arguments: inout Arguments) throws {
        json = arguments.flag(Self.json)
        let force = arguments.flag(Self.force)
        let resume = arguments.flag(Self.resume)
        let isMasked = arguments.flag(Self.masked), isUnmasked = arguments.flag(Self.unmasked)
        if isMasked && isUnmasked { throw UsageError("--masked and --no-masked contradict each other; give one") }
        let trainNorms = arguments.flag(Self.trainNorms)
        let merge = arguments.flag(Self.merge)
        guard let output = try arguments.value(Self.output) else { throw UsageError("--output DIR is required") }
        let dataSpec = try arguments.value(Self.data) ?? "c4"
        let source = dataSpec == "c4" ? CalibrationSource.fetchedC4()
            : CalibrationSource(name: URL(fileURLWithPath: dataSpec).lastPathComponent, path: URL(fileURLWithPath: dataSpec).path)
        let sequenceLength = try arguments.value(Self.seqlen, positiveInt) ?? 1024
        let home = ModelReference.home()
        let evaluations = try arguments.value(Self.evaluate) { text in
            try text.split(separator: ",").map { try PerplexityDataset.parse(String($0), home: home) }
        } ?? []
        let formats = try arguments.value(Self.formats) { text in
            do { return try PruneJob.ExportFormat.parseList(text) } catch let error as JobError {
                guard case let .invalidSetting(_, reason) = error else { throw error }
                throw UsageError(reason)
            }
        }
        let sparseType = try arguments.value(ExportOptions.sparseType) { try WeightType.parse($0) }
        let ggufType = try arguments.value(Self.ggufType) { (text: String) throws -> DType in
            do { return try PruneJob.parseGGUFType(text) } catch let error as JobError {
                guard case let .invalidSetting(_, reason) = error else { throw error }
                throw UsageError(reason)
            }
        }
        if !merge {
            for (given, option) in [(formats != nil, Self.formats), (ggufType != nil, Self.ggufType), (sparseType != nil, ExportOptions.sparseType)] where given {
                throw UsageError("\(option.name) applies only with --merge")
            }
        }
        let lora = LoRAConfiguration(
            rank: try arguments.value(Self.rank, positiveInt) ?? 8,
            alpha: try arguments.value(Self.alpha, positiveNumber) ?? 16,
            dropout: try arguments.value(Self.dropout, probability) ?? 0.05,
            targets: try arguments.value(Self.targets, Self.parseTargets) ?? [.query, .value],
            masked: !isUnmasked, trainsNormGains: trainNorms)
        job = FinetuneJob(
            model: try arguments.positional(modelArgument), output: output, replaceExisting: force, data: source,
            tokens: try arguments.value(Self.tokens, positiveInt) ?? 1_000_000, sequenceLength: sequenceLength,
            batchTokens: try arguments.value(Self.batchTokens, positiveInt),
            learningRate: try arguments.value(Self.lr, positiveNumber) ?? 1e-4,
            warmupSteps: try arguments.value(Self.warmup, nonNegativeInt) ?? 5,
            decay: try arguments.value(Self.schedule) { text in
                guard let decay = LearningRateSchedule.Decay(rawValue: text) else {
                    throw UsageError("not a schedule; valid: \(LearningRateSchedule.Decay.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return decay
            } ?? .linear,
            lora: lora,
            maxGradNorm: try arguments.value(Self.maxGradNorm, positiveNumber) ?? 1,
            weightDecay: try arguments.value(Self.weightDecay, nonNegativeNumber) ?? 0,
            seed: try arguments.value(Self.seed) { (text: String) throws -> UInt64 in
                guard let value = UInt64(text) else { throw UsageError("expected a non-negative integer") }
                return value
            } ?? 0,
            heldOutWindows: try arguments.value(Self.heldOut, nonNegativeInt) ?? 8,
            heldOutInterval: try arguments.value(Self.evalEvery, positiveInt) ?? 10,
            saveInterval: try arguments.value(Self.saveEvery, positiveInt) ?? 10,
            keepsActivations: arguments.flag(Self.keepActivations),
            evaluations: evaluations,
            evaluationSequenceLength: try arguments.value(Self.evalSeqlen, positiveInt) ?? 2048,
            evaluationWindows: try arguments.value(Self.evalWindows, positiveInt),
            merge: merge ? PruneJob.Exports(formats: formats ?? PruneJob.ExportFormat.defaults, ggufType: ggufType ?? .f32,
                                            sparseType: sparseType ?? .bf16) : nil,
            resume: resume, threads: try arguments.value(threadsOption, positiveInt), command: CommandLine.arguments)
        try asUsageError { try job.validate() }
    }

    /// `--targets`: `all`, or a comma-separated list of q, k, v, o, gate, up, down (or their
    /// Hugging Face names q_proj, ...).
    static func parseTargets(_ text: String) throws -> [TensorRole] {
        do { return try LoRAConfiguration.parseTargets(text) } catch let TrainingError.invalidSetting(_, value, valid) {
            throw UsageError("unknown target '\(value)'; valid: \(valid)")
        }
    }

    func run() throws {
        let manifest = try asUsageError { try job.run(observer: .terminal()) }
        if json {
            try printJSON(manifest)
        } else {
            print(Self.summary(manifest, directory: job.outputURL))
        }
    }

    static func summary(_ m: FinetuneManifest, directory: URL) -> String {
        let h = m.hyperparameters
        var lines = ["fine-tuned \(m.settings.model): LoRA r \(h.lora.rank) α \(h.lora.alpha) on \(h.lora.targets.map { PEFTAdapter.moduleName($0) }.joined(separator: ",")) (\(h.lora.masked ? "masked" : "unmasked")), \(h.totalSteps) steps, \(m.tokensTrained) tokens (\(String(format: "%.2f", m.epochs)) passes over \(m.data.trainingTokens) training tokens)"]
        if let first = m.heldOut.first, let last = m.heldOut.last {
            lines.append(String(format: "  held-out loss %.4f → %.4f (perplexity %.2f → %.2f)", first.loss, last.loss, exp(first.loss), exp(last.loss)))
        }
        for e in m.evaluation {
            lines.append("  \(e.dataset) perplexity: before \(String(format: "%.3f", e.perplexityBefore)) → after \(String(format: "%.3f", e.perplexityAfter)) (\(e.windows) × \(e.sequenceLength))")
        }
        let before = m.zeros.reduce(0) { $0 + $1.zerosBefore }, after = m.zeros.reduce(0) { $0 + $1.zerosAfter }
        lines.append("  zeros of the block linears: \(before) before, \(after) after merging" + (m.mergeKeepsZeros ? " (every matrix unchanged)" : ""))
        lines.append(String(format: "  training %.1f s (%.0f tokens/s, %d threads), peak memory %.0f MiB", m.timings["training"] ?? 0, m.tokensPerSecond,
                            m.threads, Double(m.peakResidentBytes) / 1_048_576))
        lines.append("  wrote \(directory.path): " + (m.outputs.map(\.file) + ["manifest.json", "report.md", "loss.svg"]).joined(separator: ", "))
        return lines.joined(separator: "\n")
    }
}

/// Parses a positive finite number.
func positiveNumber(_ text: String) throws -> Double {
    guard let value = Double(text), value > 0, value.isFinite else { throw UsageError("expected a positive number") }
    return value
}

/// Parses a finite number ≥ 0.
func nonNegativeNumber(_ text: String) throws -> Double {
    guard let value = Double(text), value >= 0, value.isFinite else { throw UsageError("expected a number ≥ 0") }
    return value
}

/// Parses an integer ≥ 0.
func nonNegativeInt(_ text: String) throws -> Int {
    guard let value = Int(text), value >= 0 else { throw UsageError("expected an integer ≥ 0") }
    return value
}

/// Parses a probability in [0, 1).
func probability(_ text: String) throws -> Double {
    guard let value = Double(text), value >= 0, value < 1 else { throw UsageError("expected a number in [0, 1)") }
    return value
}
