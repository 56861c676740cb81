import Foundation
import Pruning
import Training
import Transformer

/// What `dlp finetune` wrote into `manifest.json`: the base model and its digest, the prune it
/// came from, the training text and its split, every setting, the loss curve, held-out losses,
/// perplexities before and after, zero counts of every linear before and after merging,
/// timings and peak memory.
public struct FinetuneManifest: Sendable, Codable {
    public struct Model: Sendable, Codable {
        public var path: String
        public var format: CheckpointFormat
        public var sha256: String
        public var architecture: Architecture
        public var layerCount: Int
    }

    /// The prune that made the model, from its manifest (nil for a model that is no prune output).
    public struct Prune: Sendable, Codable {
        public var method: PruningMethod
        public var allocation: Allocation
        public var targetSparsity: Double
        public var measuredSparsity: Double
        public var calibration: CalibrationSettings
        public var calibrationSourceSHA256: String
        public var calibrationWindowsSHA256: String
    }

    /// Zeros of one block linear in the input and in the merged weights.
    public struct MatrixZeros: Sendable, Codable, Equatable {
        public var block: Int
        public var role: String
        public var count: Int
        public var zerosBefore: Int
        public var zerosAfter: Int
    }

    public struct Evaluation: Sendable, Codable {
        public var dataset: String
        public var protocolDescription: String
        public var sequenceLength: Int
        public var windows: Int
        public var perplexityBefore: Double
        public var perplexityAfter: Double
    }

    public struct Output: Sendable, Codable {
        public var file: String
        public var bytes: Int
    }

    public var tool: String
    public var createdAt: String
    public var command: [String]
    public var model: Model
    public var prune: Prune?
    public var data: FinetuneCorpus.Description
    public var settings: FinetuneJob
    public var hyperparameters: FinetuneHyperparameters
    /// Trainable values (LoRA A and B, and gains when trained).
    public var trainableParameters: Int
    /// Input tokens read (steps × sequences per step × T) and predictions scored.
    public var tokensTrained: Int
    public var predictionsTrained: Int
    /// Passes over the training windows.
    public var epochs: Double
    public var steps: [FinetuneStepRecord]
    public var heldOut: [FinetuneHeldOutRecord]
    public var resumedAt: [Int]
    public var evaluation: [Evaluation]
    /// Whether the merged weights keep every zero of the input (exactly the same count per matrix).
    public var mergeKeepsZeros: Bool
    public var zeros: [MatrixZeros]
    public var threads: Int
    /// Whether the blocks' activations were kept rather than recomputed (`--keep-activations`;
    /// absent in manifests written before the option existed).
    public var keepsActivations: Bool?
    /// Training tokens per second over the steps (this run's sessions together).
    public var tokensPerSecond: Double
    public var timings: [String: Double]
    public var peakResidentBytes: Int
    public var outputs: [Output]
    public var notes: [String]
}

extension FinetuneManifest {
    /// `report.md`: settings, data, losses, perplexities, zero counts, the chart.
    public var markdown: String {
        func f(_ x: Double, _ digits: Int = 4) -> String { String(format: "%.\(digits)f", x) }
        let h = hyperparameters
        var lines = ["# Fine-tuning report", ""]
        lines.append("Model: `\(model.path)` (\(model.architecture.rawValue), \(model.layerCount) blocks, sha256 `\(model.sha256.prefix(16))…`)")
        if let p = prune {
            lines.append("Pruned by \(p.method.rawValue) + \(p.allocation.name) at \(f(p.targetSparsity * 100, 1))% (measured \(f(p.measuredSparsity * 100, 2))%); calibration \(p.calibration.source.name) \(p.calibration.sampling.rawValue) \(p.calibration.samples) × \(p.calibration.sequenceLength), seed \(p.calibration.seed).")
        }
        lines += ["", "## Settings", "",
                  "| setting | value |", "|---|---|",
                  "| LoRA | r \(h.lora.rank), α \(h.lora.alpha), dropout \(h.lora.dropout), targets \(h.lora.targets.map { PEFTAdapter.moduleName($0) }.joined(separator: ", ")), \(h.lora.masked ? "masked (update ⊙ mask)" : "unmasked"), norm gains \(h.lora.trainsNormGains ? "trained" : "frozen") |",
                  "| optimizer | AdamW lr \(h.learningRate), β \(h.adamW.beta1)/\(h.adamW.beta2), ε \(h.adamW.epsilon), weight decay \(h.adamW.weightDecay), clip \(h.maxGradNorm) |",
                  "| schedule | \(h.warmupSteps) warm-up steps, \(h.decay.rawValue) decay over \(h.totalSteps) steps |",
                  "| batch | \(h.sequencesPerStep) × \(h.sequenceLength) tokens per step |",
                  "| seed | \(h.seed) |",
                  "| trainable values | \(trainableParameters) |",
                  "| threads | \(threads) |",
                  "| activations | \(keepsActivations == true ? "kept from the forward pass" : "recomputed block by block in the backward pass") |"]
        lines += ["", "## Data", "",
                  "\(data.source) (`\(data.path)`, sha256 `\(data.sha256.prefix(16))…`): \(data.documents) documents (\(data.documentsExcluded) dropped), \(data.streamTokens) tokens joined.",
                  "Calibration exclusion: \(data.exclusion); \(data.excludedTokens) tokens excluded.",
                  "\(data.trainingWindows) training windows (\(data.trainingTokens) tokens), \(data.heldOutOffsets.count) held-out windows (\(data.heldOutTokens) tokens), \(data.unusedTokens) tokens unused.",
                  "Trained on \(tokensTrained) tokens (\(predictionsTrained) predictions), \(f(epochs, 2)) passes over the training windows."]
        lines += ["", "## Loss", "", "![loss](loss.svg)", ""]
        if let first = heldOut.first, let last = heldOut.last {
            lines.append("Held-out loss \(f(first.loss)) at step \(first.step) → \(f(last.loss)) at step \(last.step) (perplexity \(f(exp(first.loss), 2)) → \(f(exp(last.loss), 2))).")
        }
        if let first = steps.first, let last = steps.last {
            lines.append("Training loss \(f(first.loss)) at step \(first.step) → \(f(last.loss)) at step \(last.step).")
        }
        if !resumedAt.isEmpty { lines.append("Resumed at step\(resumedAt.count > 1 ? "s" : "") \(resumedAt.map(String.init).joined(separator: ", ")).") }
        if !evaluation.isEmpty {
            lines += ["", "## Perplexity", "", "| dataset | windows | before | after |", "|---|---|---|---|"]
            for e in evaluation {
                lines.append("| \(e.dataset) | \(e.windows) × \(e.sequenceLength) | \(f(e.perplexityBefore, 3)) | \(f(e.perplexityAfter, 3)) |")
            }
        }
        let before = zeros.reduce(0) { $0 + $1.zerosBefore }, after = zeros.reduce(0) { $0 + $1.zerosAfter }
        let total = zeros.reduce(0) { $0 + $1.count }
        lines += ["", "## Zeros", "",
                  "Block linears: \(before) zeros of \(total) before merging (\(f(Double(before) / Double(max(total, 1)) * 100, 2))%), \(after) after (\(f(Double(after) / Double(max(total, 1)) * 100, 2))%); "
                  + (mergeKeepsZeros ? "every matrix keeps exactly its zero count." : "the merge changed the zero count of \(zeros.filter { $0.zerosBefore != $0.zerosAfter }.count) matrices.")]
        lines += ["", "## Time", "",
                  "\(f(timings["training"] ?? 0, 1)) s training (\(f(tokensPerSecond, 0)) tokens/s, \(threads) threads), \(f(timings["total"] ?? 0, 1)) s in this session; peak memory \(formatBytes(peakResidentBytes))."]
        if !notes.isEmpty { lines += ["", "## Notes", ""] + notes.map { "- \($0)" } }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `loss.svg`: training loss per step and held-out loss.
    public var chart: String {
        var series = [LineChart.Series(label: "training loss", points: steps.map { (Double($0.step), $0.loss) })]
        if !heldOut.isEmpty {
            series.append(LineChart.Series(label: "held-out loss", points: heldOut.map { (Double($0.step), $0.loss) }, dashed: true))
        }
        return LineChart(title: "LoRA fine-tuning of \(URL(fileURLWithPath: model.path).lastPathComponent)", xLabel: "optimizer step",
                         yLabel: "mean NLL (nats)", series: series).svg
    }
}
