import Evaluation
import Foundation
import Kernels
import Pruning
import TensorCore
import Training
import Transformer

/// LoRA fine-tuning of a (pruned) model to recover what pruning lost (`dlp finetune`), with the
/// pruning masks kept by default (masked LoRA, ``LoRAConfiguration/masked``). Trains on text
/// disjoint from the prune's calibration windows (``FinetuneCorpus``), writes the adapter in
/// PEFT's format (``PEFTAdapter``) and optionally the merged model in the formats `dlp prune`
/// writes, with a manifest, a report and a loss chart, into `output` atomically. Resumable:
/// the state of the last finished step is kept in `OUTPUT.partial/` (every ``saveInterval``
/// steps and on SIGINT/SIGTERM), and ``resume`` continues bit-identically.
///
/// Defaults follow the recipe of Wanda's `lora_ft`, OWL and the DLP authors' earlier code
/// (`../shared/PAYOFF.md` §5): r 8, α 16, dropout 0.05 on q_proj and v_proj, AdamW lr 1e-4 with
/// 5 warm-up steps and linear decay, weight decay 0 and clipping at norm 1 (transformers
/// `Trainer`'s defaults, which that recipe leaves unchanged), 1024-token sequences. Deliberate
/// deviation: 8 sequences per optimizer step instead of 128, since a CPU budget of about a
/// million tokens would otherwise be 8 steps.
public struct FinetuneJob: Sendable, Codable, Equatable {
    /// A `dlp prune` output (normally), a GGUF file or a safetensors directory.
    public var model: String
    public var output: String
    public var replaceExisting: Bool
    /// The training text (default the fetched C4 excerpt).
    public var data: CalibrationSource
    /// Training token budget: steps = ⌈tokens / batchTokens⌉.
    public var tokens: Int
    public var sequenceLength: Int
    /// Tokens per optimizer step (a multiple of ``sequenceLength``).
    public var batchTokens: Int
    public var learningRate: Double
    public var warmupSteps: Int
    public var decay: LearningRateSchedule.Decay
    public var lora: LoRAConfiguration
    public var maxGradNorm: Double
    public var weightDecay: Double
    public var seed: UInt64
    /// Windows of ``sequenceLength`` kept out of training for the held-out loss.
    public var heldOutWindows: Int
    /// Held-out loss every this many steps (and before the first and after the last).
    public var heldOutInterval: Int
    /// Save the state every this many steps.
    public var saveInterval: Int
    /// Keep every block's activations instead of recomputing them (``FinetuneTrainer/keepsActivations``).
    public var keepsActivations: Bool
    /// Perplexity before and after (the merged weights).
    public var evaluations: [PerplexityDataset]
    public var evaluationSequenceLength: Int
    public var evaluationWindows: Int?
    /// Write the merged model (nil: the adapter only).
    public var merge: PruneJob.Exports?
    /// Continue from `OUTPUT.partial/`.
    public var resume: Bool
    public var threads: Int?
    public var command: [String]

    public init(model: String, output: String, replaceExisting: Bool = false,
                data: CalibrationSource = .fetchedC4(), tokens: Int = 1_000_000, sequenceLength: Int = 1024,
                batchTokens: Int? = nil, learningRate: Double = 1e-4, warmupSteps: Int = 5,
                decay: LearningRateSchedule.Decay = .linear, lora: LoRAConfiguration = LoRAConfiguration(),
                maxGradNorm: Double = 1, weightDecay: Double = 0, seed: UInt64 = 0, heldOutWindows: Int = 8,
                heldOutInterval: Int = 10, saveInterval: Int = 10, keepsActivations: Bool = false,
                evaluations: [PerplexityDataset] = [],
                evaluationSequenceLength: Int = 2048, evaluationWindows: Int? = nil, merge: PruneJob.Exports? = nil,
                resume: Bool = false, threads: Int? = nil, command: [String] = []) {
        self.model = model
        self.output = output
        self.replaceExisting = replaceExisting
        self.data = data
        self.tokens = tokens
        self.sequenceLength = sequenceLength
        self.batchTokens = batchTokens ?? Self.defaultSequencesPerStep * sequenceLength
        self.learningRate = learningRate
        self.warmupSteps = warmupSteps
        self.decay = decay
        self.lora = lora
        self.maxGradNorm = maxGradNorm
        self.weightDecay = weightDecay
        self.seed = seed
        self.heldOutWindows = heldOutWindows
        self.heldOutInterval = heldOutInterval
        self.saveInterval = saveInterval
        self.keepsActivations = keepsActivations
        self.evaluations = evaluations
        self.evaluationSequenceLength = evaluationSequenceLength
        self.evaluationWindows = evaluationWindows
        self.merge = merge
        self.resume = resume
        self.threads = threads
        self.command = command
    }

    /// Sequences per optimizer step when `--batch-tokens` is not given.
    public static let defaultSequencesPerStep = 8

    public var outputURL: URL { URL(fileURLWithPath: output).standardizedFileURL }

    /// Where the state of an unfinished run lives: `OUTPUT.partial/`.
    public var partialURL: URL {
        outputURL.deletingLastPathComponent().appendingPathComponent(outputURL.lastPathComponent + ".partial")
    }

    public var sequencesPerStep: Int { batchTokens / sequenceLength }

    public var totalSteps: Int { max(1, (tokens + batchTokens - 1) / batchTokens) }

    public var computeThreads: ComputeThreads { threads.map(ComputeThreads.init) ?? .allAvailable }

    public var hyperparameters: FinetuneHyperparameters {
        FinetuneHyperparameters(lora: lora, sequenceLength: sequenceLength, sequencesPerStep: sequencesPerStep, totalSteps: totalSteps,
                                learningRate: learningRate, warmupSteps: warmupSteps, decay: decay, maxGradNorm: maxGradNorm,
                                adamW: AdamW<Float>.Settings(weightDecay: weightDecay), seed: seed)
    }

    /// Checks every setting and file before anything is loaded; creates the output's parent.
    public func validate() throws {
        func fail(_ setting: String, _ reason: String) -> JobError { .invalidSetting(setting: setting, reason: reason) }
        guard sequenceLength >= 2 else { throw fail("seqlen", "\(sequenceLength): must be at least 2") }
        guard tokens >= 1 else { throw fail("tokens", "\(tokens): expected a positive integer") }
        guard batchTokens >= sequenceLength, batchTokens % sequenceLength == 0 else {
            throw fail("batch-tokens", "\(batchTokens) is not a positive multiple of --seqlen \(sequenceLength) (tokens per optimizer step = sequences × seqlen)")
        }
        guard learningRate > 0, learningRate.isFinite else { throw fail("lr", "\(learningRate): expected a positive number") }
        guard warmupSteps >= 0, warmupSteps <= totalSteps else {
            throw fail("warmup", "\(warmupSteps) steps: expected 0…\(totalSteps), the run's steps (--tokens \(tokens) / --batch-tokens \(batchTokens))")
        }
        guard maxGradNorm > 0, maxGradNorm.isFinite else { throw fail("max-grad-norm", "\(maxGradNorm): expected a positive number") }
        guard weightDecay >= 0, weightDecay.isFinite else { throw fail("weight-decay", "\(weightDecay): expected a number ≥ 0") }
        do { try lora.validate() } catch let error as TrainingError {
            guard case let .invalidSetting(name, value, valid) = error else { throw error }
            let flag = ["LoRA rank": "rank", "LoRA alpha": "alpha", "LoRA dropout": "dropout", "LoRA target": "targets"][name] ?? name
            throw fail(flag, "'\(value)' is not valid; valid: \(valid)")
        }
        guard heldOutWindows >= 0 else { throw fail("held-out", "\(heldOutWindows): expected an integer ≥ 0") }
        guard heldOutInterval >= 1 else { throw fail("eval-every", "\(heldOutInterval): expected a positive integer") }
        guard saveInterval >= 1 else { throw fail("save-every", "\(saveInterval): expected a positive integer") }
        if let threads, threads < 1 { throw fail("threads", "\(threads): expected a positive integer") }
        guard evaluationSequenceLength >= 2 else { throw fail("eval-seqlen", "must be at least 2") }
        if let evaluationWindows, evaluationWindows < 1 { throw fail("eval-windows", "expected a positive integer") }
        let fm = FileManager.default
        guard fm.isReadableFile(atPath: data.path) else {
            throw fail("data", "cannot read \(data.path)" + (data.name == "c4" ? "; fetch it with `make assets`" : ""))
        }
        for dataset in evaluations where !fm.isReadableFile(atPath: dataset.url.path) {
            throw fail("evaluate \(dataset.name)", "cannot read \(dataset.url.path)")
        }
        if let merge {
            guard !merge.formats.isEmpty else {
                throw fail("formats", "name at least one of \(PruneJob.ExportFormat.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard PruneJob.ggufTypes.contains(merge.ggufType) else {
                throw fail("gguf-dtype", "\(merge.ggufType.rawValue.lowercased()) does not keep zeros; valid: \(PruneJob.ggufTypes.map { $0.rawValue.lowercased() }.joined(separator: ", "))")
            }
        }
        let url = outputURL
        if fm.fileExists(atPath: url.path), !replaceExisting {
            throw fail("output", "\(output) exists; choose another directory or pass --force to replace it")
        }
        let partial = partialURL.appendingPathComponent(FinetuneCheckpoint.fileName)
        if resume {
            guard fm.fileExists(atPath: partial.path) else {
                throw fail("resume", "there is no unfinished run to resume: \(partial.path) does not exist; leave out --resume to start")
            }
        } else if fm.fileExists(atPath: partial.path), !replaceExisting {
            throw fail("resume", "an unfinished run of this output is saved in \(partialURL.path); pass --resume to continue it, or --force to discard it and start afresh")
        }
        let parent = url.deletingLastPathComponent()
        if !fm.fileExists(atPath: parent.path) {
            do { try fm.createDirectory(at: parent, withIntermediateDirectories: true) } catch {
                throw fail("output", "\(output): cannot create the parent directory \(parent.path): \(error.localizedDescription)")
            }
        }
        guard fm.isWritableFile(atPath: parent.path) else {
            throw fail("output", "\(output): the parent directory \(parent.path) is not writable")
        }
    }
}
