import Foundation
import Jobs
import Pruning
import Training
import Transformer

/// One LoRA recovery of a pruned cell (`dlp finetune` on its model): a token budget, masked or
/// not, the targeted linears and the peak learning rate. The plan's ``RecoverySettings`` give
/// everything else. A grid names them as lists, crossed:
///
/// ```json
/// "recovery": {"tokens": [250000, 500000], "masked": [true, false], "targets": ["q,v"], "lr": [1e-4]}
/// ```
///
/// Its folder in the cell's is ``folder``: `lora-qv-lr1e-4-t250k`, `lora-all-lr5e-4-t1M-unmasked`.
public struct Recovery: Sendable, Equatable, Hashable {
    public var tokens: Int
    public var masked: Bool
    public var targets: [TensorRole]
    public var learningRate: Double

    public init(tokens: Int, masked: Bool = true, targets: [TensorRole] = [.query, .value], learningRate: Double = 1e-4) {
        self.tokens = tokens
        self.masked = masked
        self.targets = LoRAConfiguration(targets: targets).targets
        self.learningRate = learningRate
    }

    /// Folder name within the cell's folder.
    public var folder: String {
        "lora-\(LoRAConfiguration.targetsTag(targets))-lr\(Self.compactScientific(learningRate))-t\(Self.compactTokens(tokens))"
            + (masked ? "" : "-unmasked")
    }

    /// How tables head the column: `0.25M`, `0.25M unmasked`, `0.25M all lr 5e-4` — the targets
    /// and the learning rate only when asked (where they differ between a table's recoveries).
    public func label(showTargets: Bool, showRate: Bool) -> String {
        Self.label(tokens: tokens, targetsTag: LoRAConfiguration.targetsTag(targets), learningRate: learningRate, masked: masked,
                   showTargets: showTargets, showRate: showRate)
    }

    /// A targets tag in words for a sentence: `qv` → "q, v", `gate+up` → "gate, up", `all` → "all
    /// seven linears (q, k, v, o, gate, up, down)"; a tag ``LoRAConfiguration/targetsTag(_:)`` never
    /// writes is given back as it is.
    static func targetsPhrase(_ tag: String) -> String {
        guard let targets = LoRAConfiguration.targets(fromTag: tag) else { return tag }
        let names = LoRAConfiguration.shortNames(of: targets).joined(separator: ", ")
        return targets == TensorRole.linears ? "all seven linears (\(names))" : names
    }

    /// ``label(showTargets:showRate:)`` of a recovery known by its fields (a results entry's).
    static func label(tokens: Int, targetsTag: String, learningRate: Double, masked: Bool, showTargets: Bool, showRate: Bool) -> String {
        var parts = [compactTokens(tokens, unitStyle: true)]
        if showTargets { parts.append(targetsTag) }
        if showRate { parts.append("lr " + compactScientific(learningRate)) }
        if !masked { parts.append("unmasked") }
        return parts.joined(separator: " ")
    }

    /// The fine-tuning job of this recovery on `model` (a cell's prune output), into `output`;
    /// `resume` continues the unfinished run saved in `OUTPUT.partial/`.
    public func job(model: String, output: String, settings s: RecoverySettings, resume: Bool, command: [String]) -> FinetuneJob {
        FinetuneJob(model: model, output: output, replaceExisting: true, tokens: tokens, sequenceLength: s.sequenceLength,
                    batchTokens: s.batchTokens, learningRate: learningRate, warmupSteps: s.warmupSteps, decay: s.decay,
                    lora: LoRAConfiguration(rank: s.rank, alpha: s.alpha, dropout: s.dropout, targets: targets, masked: masked),
                    seed: s.seed, heldOutWindows: s.heldOutWindows, heldOutInterval: s.heldOutInterval,
                    keepsActivations: s.keepsActivations, resume: resume, command: command)
    }

    /// Why a finished run's settings (`FinetuneJob` from its manifest) are not this recovery's
    /// under `settings`, or nil when they are.
    public func mismatch(_ run: FinetuneJob, settings s: RecoverySettings) -> String? {
        let expected = job(model: run.model, output: run.output, settings: s, resume: false, command: [])
        let pairs: [(String, String, String)] = [
            ("tokens", "\(run.tokens)", "\(expected.tokens)"),
            ("seqlen", "\(run.sequenceLength)", "\(expected.sequenceLength)"),
            ("batch tokens", "\(run.batchTokens)", "\(expected.batchTokens)"),
            ("lr", "\(run.learningRate)", "\(expected.learningRate)"),
            ("warm-up", "\(run.warmupSteps)", "\(expected.warmupSteps)"),
            ("schedule", run.decay.rawValue, expected.decay.rawValue),
            ("rank", "\(run.lora.rank)", "\(expected.lora.rank)"),
            ("alpha", "\(run.lora.alpha)", "\(expected.lora.alpha)"),
            ("dropout", "\(run.lora.dropout)", "\(expected.lora.dropout)"),
            ("targets", LoRAConfiguration.targetsTag(run.lora.targets), LoRAConfiguration.targetsTag(expected.lora.targets)),
            ("masked", "\(run.lora.masked)", "\(expected.lora.masked)"),
            ("norm gains", "\(run.lora.trainsNormGains)", "\(expected.lora.trainsNormGains)"),
            ("seed", "\(run.seed)", "\(expected.seed)"),
            ("held-out windows", "\(run.heldOutWindows)", "\(expected.heldOutWindows)"),
            ("training text", run.data.name, expected.data.name),
        ]
        return pairs.first { $0.1 != $0.2 }.map { "\($0.0) \($0.1), plan \($0.2)" }
    }

    /// `1e-4`, `5e-4`, `2.5e-4`, `0.001` → `1e-3`: the shortest mantissa that reads back exactly.
    static func compactScientific(_ x: Double) -> String {
        for digits in 0...16 {
            let text = String(format: "%.\(digits)e", x)
            guard Double(text) == x else { continue }
            let parts = text.split(separator: "e")
            let exponent = Int(parts[1]) ?? 0
            return "\(parts[0])e\(exponent)"
        }
        return "\(x)"
    }

    /// `250k`, `1M`, `1.5M`, `12345`; with `unitStyle` millions throughout (`0.25M`), as tables read best.
    static func compactTokens(_ n: Int, unitStyle: Bool = false) -> String {
        if unitStyle, n >= 10_000 { return compactNumber(Double(n) / 1e6) + "M" }
        if n >= 1_000_000, n % 10_000 == 0 { return compactNumber(Double(n) / 1e6) + "M" }
        if n >= 1_000, n % 1_000 == 0 { return "\(n / 1_000)k" }
        return "\(n)"
    }
}

/// What every recovery of a plan shares (the plan's `"recovery"` object): `dlp finetune`'s
/// settings other than the budget, masking, targets and learning rate, which grids vary.
/// Defaults are `dlp finetune`'s (the Wanda / OWL recipe), except `seqlen` 512 and
/// `keep_activations` true: a plan is a long run on a machine that has the memory.
public struct RecoverySettings: Sendable, Equatable {
    public var sequenceLength = 512
    /// Tokens per optimizer step (nil: 8 sequences).
    public var batchTokens: Int?
    public var warmupSteps = 5
    public var decay = LearningRateSchedule.Decay.linear
    public var rank = 8
    public var alpha = 16.0
    public var dropout = 0.05
    public var seed: UInt64 = 0
    public var heldOutWindows = 8
    public var heldOutInterval = 10
    public var keepsActivations = true

    public init() {}

    /// One line for reports: `LoRA r 8, α 16, dropout 0.05; AdamW, 5 warm-up steps then linear decay;
    /// 8 × 512 tokens per step; seed 0; activations kept`.
    public var label: String {
        let batch = batchTokens ?? FinetuneJob.defaultSequencesPerStep * sequenceLength
        return "LoRA r \(rank), α \(compactNumber(alpha)), dropout \(compactNumber(dropout)); AdamW, \(warmupSteps) warm-up steps then "
            + "\(decay.rawValue) decay; \(batch / sequenceLength) × \(sequenceLength) tokens per step; seed \(seed); "
            + (keepsActivations ? "activations kept" : "activations recomputed")
    }
}
