import Evaluation
import Foundation
import Jobs
import Pruning
import Transformer

/// One pruned model of a plan: model × method × allocation × target × pattern × weight format,
/// and what it is evaluated on. Its `id` names its folder, e.g. `wanda-dlp-a0.15-median-p70`,
/// `sparsegpt-uniform-2of4` or `wanda-dlp-p70-q4_0-joint`.
public struct ExperimentCell: Sendable, Equatable {
    public var model: String
    public var method: PruningMethod
    public var allocation: Allocation
    /// Target fraction of zeros (an N:M pattern's own fraction).
    public var target: Double
    public var pattern: SparsityPattern
    /// How the linears are stored: the prune's F32 export, a round-to-nearest conversion of it,
    /// or joint quantization.
    public var weights: WeightFormat
    public var evaluations: ExperimentPlan.Evaluations
    /// LoRA recoveries of the pruned model, each evaluated with ``evaluations``.
    public var recoveries: [Recovery]

    public init(model: String, method: PruningMethod, allocation: Allocation, target: Double, pattern: SparsityPattern,
                weights: WeightFormat = .standard, evaluations: ExperimentPlan.Evaluations, recoveries: [Recovery] = []) {
        self.model = model
        self.method = method
        self.allocation = allocation
        self.target = target
        self.pattern = pattern
        self.weights = weights
        self.evaluations = evaluations
        self.recoveries = recoveries
    }

    /// The F32 cell a round-to-nearest cell is converted from (itself for F32 and joint cells).
    public var base: ExperimentCell {
        guard case .exported(let type) = weights, type != .f32 else { return self }
        var base = self
        base.weights = .standard
        base.evaluations = .init()
        base.recoveries = []
        return base
    }

    /// Whether the cell's model is converted from its ``base`` rather than pruned.
    public var isConverted: Bool { base.id != id }

    /// `p70` for unstructured 70 %, `2of4` for 2:4.
    public var patternTag: String {
        switch pattern {
        case .unstructured: return "p" + compactNumber((target * 1000).rounded() / 10)
        case let .nm(zeros, group): return "\(group - zeros)of\(group)"
        }
    }

    /// Folder name within the model's folder.
    public var id: String { "\(method.rawValue)-\(allocation.tag)-\(patternTag)" + weights.folderSuffix }

    /// How tables label the column: `70%` or `2:4`.
    public var columnLabel: String {
        switch pattern {
        case .unstructured: return compactNumber((target * 1000).rounded() / 10) + "%"
        case .nm: return pattern.description
        }
    }

    /// The job that makes this cell's model in `output`: a GGUF export only (what the
    /// measurements read), replacing a stale folder; F32, or the joint quantization's type.
    /// (A converted cell's model is made by ``convertJob(from:output:)`` from its base's.)
    public func pruneJob(calibration: CalibrationSettings, output: String, command: [String] = []) -> PruneJob {
        var quantization: JointQuantization?
        if case .joint(let q) = weights { quantization = q }
        return PruneJob(model: model, method: method, allocation: allocation, target: target, pattern: pattern,
                        quantization: quantization, calibration: calibration,
                        exports: .init(formats: [.gguf], ggufType: quantization?.dtype ?? .f32), output: output,
                        replaceExisting: true, command: command)
    }

    /// The job that converts the base cell's pruned output `source` into this cell's type in `output`.
    public func convertJob(from source: String, output: String) -> ConvertJob {
        ConvertJob(directory: source, formats: [.gguf], ggufType: weights.dtype, output: output, replaceExisting: true)
    }

    /// Why `manifest` was not made by this cell's settings, or nil when it was.
    public func mismatch(_ manifest: PruningManifest, calibration c: CalibrationSettings) -> String? {
        let s = manifest.settings
        if s.method != method { return "method \(s.method.rawValue), plan \(method.rawValue)" }
        if s.allocation != allocation { return "allocation \(s.allocation), plan \(allocation)" }
        if abs(s.targetSparsity - target) > 1e-12 { return "sparsity \(s.targetSparsity), plan \(target)" }
        if s.pattern != pattern { return "pattern \(s.pattern), plan \(pattern)" }
        var quantization: JointQuantization?
        if case .joint(let q) = weights { quantization = q }
        if s.quantization != quantization {
            return "joint quantization \(s.quantization?.rawValue ?? "none"), plan \(quantization?.rawValue ?? "none")"
        }
        let stored = manifest.ggufLinears?.type ?? .f32
        if stored != weights.dtype { return "GGUF linears \(stored.rawValue), plan \(weights.dtype.rawValue)" }
        let m = manifest.calibration.settings
        if m.samples != c.samples || m.sequenceLength != c.sequenceLength || m.seed != c.seed || m.sampling != c.sampling
            || m.source.name != c.source.name {
            return "calibration \(m.label), plan \(c.label)"
        }
        return nil
    }
}

/// One evaluation of a model and the file its JSON result goes to.
public enum Measurement: Sendable, Equatable, Hashable {
    /// `dlp perplexity` on a dataset of the plan (by name) with the plan's window settings.
    case perplexity(dataset: String, sequenceLength: Int, maxWindows: Int?)
    /// `dlp eval` on the plan's task list.
    case zeroshot(tasks: String, limit: Int?)

    /// File name in the cell folder: `wikitext2-2048.json`, `ptb-2048-w16.json`, `zeroshot-all.json`,
    /// `zeroshot-all-limit200.json`.
    public var fileName: String {
        switch self {
        case let .perplexity(dataset, t, windows):
            return "\(dataset)-\(t)" + (windows.map { "-w\($0)" } ?? "") + ".json"
        case let .zeroshot(tasks, limit):
            let tag = tasks.replacingOccurrences(of: ",", with: "+")
            return "zeroshot-\(tag)" + (limit.map { "-limit\($0)" } ?? "") + ".json"
        }
    }

    /// A short name for progress lines.
    public var label: String {
        switch self {
        case let .perplexity(dataset, _, _): return "\(dataset) perplexity"
        case let .zeroshot(tasks, _): return "zero-shot \(tasks)"
        }
    }

    /// The job that measures `model`, with `datasets` mapping dataset names to specs
    /// (`wikitext2:PATH`, `ptb`); `adapter` is a LoRA adapter applied to it (a recovery's).
    public func job(model: String, datasets: [String: String], adapter: AdapterSettings? = nil, home: URL = ModelReference.home()) throws -> Job {
        switch self {
        case let .perplexity(dataset, t, windows):
            let parsed = try PerplexityDataset.parse(datasets[dataset] ?? dataset, home: home)
            return .perplexity(PerplexityJob(model: model, dataset: parsed, sequenceLength: t, maxWindows: windows, adapter: adapter))
        case let .zeroshot(tasks, limit):
            return .zeroshot(ZeroShotJob(model: model, tasks: try ZeroShotTask.parseList(tasks),
                                         dataDirectory: ZeroShotDataset.defaultDirectory(home: home).path, limit: limit, adapter: adapter))
        }
    }
}

extension ExperimentPlan {
    /// The measurements `evaluations` asks for under this plan's settings.
    public func measurements(_ evaluations: Evaluations) -> [Measurement] {
        evaluations.perplexity.map { .perplexity(dataset: $0, sequenceLength: perplexity.seqlen, maxWindows: perplexity.maxWindows) }
            + (evaluations.zeroshot ? [.zeroshot(tasks: zeroshot.tasks, limit: zeroshot.limit)] : [])
    }
}
