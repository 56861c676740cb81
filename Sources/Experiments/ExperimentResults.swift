import Evaluation
import Foundation
import Jobs
import Pruning
import Training
import Transformer

/// Everything a plan's finished steps measured, read back from its results folder. Written as
/// `results.json` (nested) and `results.csv` (one row per cell and metric).
public struct ExperimentResults: Sendable, Codable {
    public var plan: String
    public var description: String
    public var calibration: String
    public var perplexitySequenceLength: Int
    public var perplexityMaxWindows: Int?
    public var zeroshotTasks: String
    public var zeroshotLimit: Int?
    /// The settings every recovery shares (``RecoverySettings/label``), when the plan has recoveries.
    public var recoverySettings: String?
    /// Unpruned models, one entry per model with any measurement.
    public var dense: [Entry]
    /// Pruned cells with a manifest, in plan order.
    public var cells: [Entry]

    /// Zero-shot accuracy of one task.
    public struct TaskScore: Sendable, Codable, Equatable {
        public var acc: Double
        public var accNorm: Double
        /// The metric the paper reports for this task (`acc` or `acc_norm`).
        public var paper: Double
        public var items: Int
    }

    /// One perplexity.
    public struct PerplexityScore: Sendable, Codable, Equatable {
        public var perplexity: Double
        public var windows: Int
        public var sequenceLength: Int
        public var seconds: Double
    }

    /// One LoRA recovery of a cell: its settings, what its run recorded and its measurements.
    public struct RecoveryEntry: Sendable, Codable, Equatable {
        /// The recovery's folder name (``Recovery/folder``).
        public var id: String
        public var tokens: Int
        public var masked: Bool
        /// `qv`, `all`, ... (``LoRAConfiguration/targetsTag(_:)``).
        public var targets: String
        public var learningRate: Double
        public var tokensTrained: Int
        /// Passes over the training text.
        public var epochs: Double
        public var trainingSeconds: Double
        public var tokensPerSecond: Double
        public var peakMiB: Double
        public var threads: Int
        /// Whether merging keeps every zero of the pruned model (masked adapters).
        public var mergeKeepsZeros: Bool
        /// Held-out loss before the first step and after the last.
        public var heldOutBefore: Double?
        public var heldOutAfter: Double?
        public var perplexity: [String: PerplexityScore]
        public var zeroshot: [String: TaskScore]
        public var zeroshotMean: Double?
        public var zeroshotSeconds: Double?
    }

    /// One model (dense or a cell) and what was measured on it. On disk the allocation is its
    /// name, parameters, tag and label side by side (`allocation`, `allocationParameters`,
    /// `allocationTag`, `allocationLabel`), as results files have always held it.
    public struct Entry: Sendable, Codable {
        public var model: String
        /// `dense` or the cell id.
        public var id: String
        public var method: PruningMethod?
        public var allocation: Allocation?
        public var target: Double?
        public var pattern: SparsityPattern?
        public var column: String?
        /// How the linears are stored (``WeightFormat`` as plans write it); nil: the prune's F32
        /// export, or the unpruned model as it was given.
        public var weights: String?
        /// Size of the measured `model.gguf` (or the given model file), when known.
        public var modelBytes: Int?
        public var measuredSparsity: Double?
        /// Per-block ratios the allocation gave, and the sparsity measured per block.
        public var ratios: [Double]?
        public var blockSparsity: [Double]?
        /// Seconds of the prune step by stage, and its peak resident memory.
        public var timings: [String: Double]?
        public var peakMiB: Double?
        public var allocationCacheHit: Bool?
        public var perplexity: [String: PerplexityScore]
        public var zeroshot: [String: TaskScore]
        /// Mean of the paper metric over the seven paper tasks, when all seven ran.
        public var zeroshotMean: Double?
        public var zeroshotSeconds: Double?
        /// The cell's LoRA recoveries that finished training (nil: none asked).
        public var recovery: [RecoveryEntry]?

        public init(model: String, id: String, method: PruningMethod? = nil, allocation: Allocation? = nil, target: Double? = nil,
                    pattern: SparsityPattern? = nil, column: String? = nil, weights: String? = nil, modelBytes: Int? = nil,
                    measuredSparsity: Double? = nil,
                    ratios: [Double]? = nil, blockSparsity: [Double]? = nil, timings: [String: Double]? = nil,
                    peakMiB: Double? = nil, allocationCacheHit: Bool? = nil, perplexity: [String: PerplexityScore] = [:],
                    zeroshot: [String: TaskScore] = [:], zeroshotMean: Double? = nil, zeroshotSeconds: Double? = nil) {
            self.model = model
            self.id = id
            self.method = method
            self.allocation = allocation
            self.target = target
            self.pattern = pattern
            self.column = column
            self.weights = weights
            self.modelBytes = modelBytes
            self.measuredSparsity = measuredSparsity
            self.ratios = ratios
            self.blockSparsity = blockSparsity
            self.timings = timings
            self.peakMiB = peakMiB
            self.allocationCacheHit = allocationCacheHit
            self.perplexity = perplexity
            self.zeroshot = zeroshot
            self.zeroshotMean = zeroshotMean
            self.zeroshotSeconds = zeroshotSeconds
        }

        /// The allocation's table label (`DLP`, `DLP (α=0.1, mean)`).
        public var allocationLabel: String? { allocation?.label }

        enum CodingKeys: String, CodingKey {
            case model, id, method, allocation, allocationTag, allocationLabel, allocationParameters, target, pattern, column,
                 weights, modelBytes, measuredSparsity, ratios, blockSparsity, timings, peakMiB, allocationCacheHit, perplexity, zeroshot,
                 zeroshotMean, zeroshotSeconds, recovery
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            model = try c.decode(String.self, forKey: .model)
            id = try c.decode(String.self, forKey: .id)
            method = try c.decodeIfPresent(PruningMethod.self, forKey: .method)
            if let name = try c.decodeIfPresent(String.self, forKey: .allocation) {
                let parameters = try c.decodeIfPresent([String: String].self, forKey: .allocationParameters) ?? [:]
                do { allocation = try Allocation(name: name, parameters: parameters) } catch let error as PruningError {
                    throw DecodingError.dataCorruptedError(forKey: .allocation, in: c, debugDescription: error.description)
                }
            }
            target = try c.decodeIfPresent(Double.self, forKey: .target)
            pattern = try c.decodeIfPresent(SparsityPattern.self, forKey: .pattern)
            column = try c.decodeIfPresent(String.self, forKey: .column)
            weights = try c.decodeIfPresent(String.self, forKey: .weights)
            modelBytes = try c.decodeIfPresent(Int.self, forKey: .modelBytes)
            measuredSparsity = try c.decodeIfPresent(Double.self, forKey: .measuredSparsity)
            ratios = try c.decodeIfPresent([Double].self, forKey: .ratios)
            blockSparsity = try c.decodeIfPresent([Double].self, forKey: .blockSparsity)
            timings = try c.decodeIfPresent([String: Double].self, forKey: .timings)
            peakMiB = try c.decodeIfPresent(Double.self, forKey: .peakMiB)
            allocationCacheHit = try c.decodeIfPresent(Bool.self, forKey: .allocationCacheHit)
            perplexity = try c.decode([String: PerplexityScore].self, forKey: .perplexity)
            zeroshot = try c.decode([String: TaskScore].self, forKey: .zeroshot)
            zeroshotMean = try c.decodeIfPresent(Double.self, forKey: .zeroshotMean)
            zeroshotSeconds = try c.decodeIfPresent(Double.self, forKey: .zeroshotSeconds)
            recovery = try c.decodeIfPresent([RecoveryEntry].self, forKey: .recovery)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(model, forKey: .model)
            try c.encode(id, forKey: .id)
            try c.encodeIfPresent(method, forKey: .method)
            try c.encodeIfPresent(allocation?.name, forKey: .allocation)
            try c.encodeIfPresent(allocation?.tag, forKey: .allocationTag)
            try c.encodeIfPresent(allocation?.label, forKey: .allocationLabel)
            try c.encodeIfPresent(allocation?.parameters, forKey: .allocationParameters)
            try c.encodeIfPresent(target, forKey: .target)
            try c.encodeIfPresent(pattern, forKey: .pattern)
            try c.encodeIfPresent(column, forKey: .column)
            try c.encodeIfPresent(weights, forKey: .weights)
            try c.encodeIfPresent(modelBytes, forKey: .modelBytes)
            try c.encodeIfPresent(measuredSparsity, forKey: .measuredSparsity)
            try c.encodeIfPresent(ratios, forKey: .ratios)
            try c.encodeIfPresent(blockSparsity, forKey: .blockSparsity)
            try c.encodeIfPresent(timings, forKey: .timings)
            try c.encodeIfPresent(peakMiB, forKey: .peakMiB)
            try c.encodeIfPresent(allocationCacheHit, forKey: .allocationCacheHit)
            try c.encode(perplexity, forKey: .perplexity)
            try c.encode(zeroshot, forKey: .zeroshot)
            try c.encodeIfPresent(zeroshotMean, forKey: .zeroshotMean)
            try c.encodeIfPresent(zeroshotSeconds, forKey: .zeroshotSeconds)
            try c.encodeIfPresent(recovery, forKey: .recovery)
        }
    }

    /// Decodes a `dlp prune` manifest.
    static func readManifest(_ url: URL) throws -> PruningManifest {
        try decode(PruningManifest.self, from: url)
    }

    static func decode<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ExperimentError.unreadableResult(path: url.path, reason: "cannot read the file")
        }
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw ExperimentError.unreadableResult(path: url.path, reason: "not a \(type) JSON file (\(error))")
        }
    }

    /// Reads every finished step of `plan` under `directory`.
    public static func collect(plan: ExperimentPlan, directory: URL) throws -> ExperimentResults {
        let fm = FileManager.default
        let runner = ExperimentRunner(plan: plan, directory: directory)
        /// Reads the measurements found in `folder` into the four fields they fill.
        func read(_ folder: URL, _ evaluations: ExperimentPlan.Evaluations, perplexity: inout [String: PerplexityScore],
                  zeroshot: inout [String: TaskScore], zeroshotMean: inout Double?, zeroshotSeconds: inout Double?) throws {
            for m in plan.measurements(evaluations) {
                let url = folder.appendingPathComponent(m.fileName)
                guard fm.fileExists(atPath: url.path) else { continue }
                switch m {
                case let .perplexity(dataset, _, _):
                    let r = try decode(PerplexityResult.self, from: url)
                    perplexity[dataset] = PerplexityScore(perplexity: r.perplexity, windows: r.windows, sequenceLength: r.sequenceLength,
                                                          seconds: r.forwardSeconds + r.tokenizeSeconds)
                case .zeroshot:
                    let r = try decode(ZeroShotReport.self, from: url)
                    for t in r.tasks {
                        zeroshot[t.task.rawValue] = TaskScore(acc: t.acc, accNorm: t.accNorm, paper: t.value(t.paperMetric), items: t.items)
                    }
                    zeroshotMean = r.paperMean
                    zeroshotSeconds = r.seconds
                }
            }
        }
        func measurements(into entry: inout Entry, folder: URL, evaluations: ExperimentPlan.Evaluations) throws {
            try read(folder, evaluations, perplexity: &entry.perplexity, zeroshot: &entry.zeroshot,
                     zeroshotMean: &entry.zeroshotMean, zeroshotSeconds: &entry.zeroshotSeconds)
        }
        func recoveries(of cell: ExperimentCell, folder: URL) throws -> [RecoveryEntry]? {
            guard !cell.recoveries.isEmpty else { return nil }
            return try cell.recoveries.compactMap { recovery in
                let dir = folder.appendingPathComponent(recovery.folder)
                let url = dir.appendingPathComponent("manifest.json")
                guard fm.fileExists(atPath: url.path) else { return nil }
                let m = try decode(FinetuneManifest.self, from: url)
                var entry = RecoveryEntry(
                    id: recovery.folder, tokens: recovery.tokens, masked: recovery.masked,
                    targets: LoRAConfiguration.targetsTag(recovery.targets), learningRate: recovery.learningRate,
                    tokensTrained: m.tokensTrained, epochs: m.epochs, trainingSeconds: m.timings["training"] ?? 0,
                    tokensPerSecond: m.tokensPerSecond, peakMiB: Double(m.peakResidentBytes) / 1_048_576, threads: m.threads,
                    mergeKeepsZeros: m.mergeKeepsZeros, heldOutBefore: m.heldOut.first?.loss, heldOutAfter: m.heldOut.last?.loss,
                    perplexity: [:], zeroshot: [:])
                try read(dir, cell.evaluations, perplexity: &entry.perplexity, zeroshot: &entry.zeroshot,
                         zeroshotMean: &entry.zeroshotMean, zeroshotSeconds: &entry.zeroshotSeconds)
                return entry
            }
        }
        func size(_ url: URL) -> Int? { (try? fm.attributesOfItem(atPath: url.path))?[.size].flatMap { ($0 as? NSNumber)?.intValue } }
        var dense = [Entry]()
        for model in plan.models {
            var entry = Entry(model: model, id: "dense", modelBytes: (try? ModelReference.resolve(model)).flatMap { $0.format == .gguf ? size($0.url) : nil })
            try measurements(into: &entry, folder: runner.cellDirectory(model: model, cell: "dense"), evaluations: plan.dense)
            if !entry.perplexity.isEmpty || !entry.zeroshot.isEmpty { dense.append(entry) }
            for type in plan.denseWeights {
                let folder = runner.cellDirectory(model: model, cell: ExperimentPlan.denseFolder(type))
                let record = folder.appendingPathComponent(ExperimentRunner.conversionRecord)
                let written = fm.fileExists(atPath: record.path) ? try decode(ConvertJob.Written.self, from: record) : nil
                var entry = Entry(model: model, id: ExperimentPlan.denseFolder(type), weights: WeightFormat.exported(type).description,
                                  modelBytes: written?.outputs.first { $0.file == "model.gguf" }?.bytes)
                try measurements(into: &entry, folder: folder, evaluations: plan.dense)
                if !entry.perplexity.isEmpty || !entry.zeroshot.isEmpty { dense.append(entry) }
            }
        }
        var cells = [Entry]()
        for cell in plan.cells {
            let folder = runner.cellDirectory(model: cell.model, cell: cell.id)
            let manifestURL = folder.appendingPathComponent("pruned/manifest.json")
            guard fm.fileExists(atPath: manifestURL.path) else { continue }
            let manifest = try readManifest(manifestURL)
            var entry = Entry(
                model: cell.model, id: cell.id, method: cell.method, allocation: cell.allocation, target: cell.target,
                pattern: cell.pattern, column: cell.columnLabel, weights: cell.weights == .standard ? nil : cell.weights.description,
                modelBytes: manifest.outputs.first { $0.file == "model.gguf" }?.bytes, measuredSparsity: manifest.overallSparsity,
                ratios: manifest.blocks.map(\.requestedRatio), blockSparsity: manifest.blocks.map(\.measuredSparsity),
                timings: manifest.timings, peakMiB: Double(manifest.peakResidentBytes) / 1_048_576,
                allocationCacheHit: manifest.allocationCacheHit)
            try measurements(into: &entry, folder: folder, evaluations: cell.evaluations)
            entry.recovery = try recoveries(of: cell, folder: folder)
            cells.append(entry)
        }
        return ExperimentResults(plan: plan.name, description: plan.description, calibration: plan.calibration.label,
                                 perplexitySequenceLength: plan.perplexity.seqlen, perplexityMaxWindows: plan.perplexity.maxWindows,
                                 zeroshotTasks: plan.zeroshot.tasks, zeroshotLimit: plan.zeroshot.limit,
                                 recoverySettings: plan.cells.contains { !$0.recoveries.isEmpty } ? plan.recovery.label : nil,
                                 dense: dense, cells: cells)
    }

    /// The CSV: `plan,model,cell,method,allocation,parameters,pattern,target,weights,measured_sparsity,metric,value`
    /// (`model_bytes` is a metric).
    public var csv: String {
        var lines = ["plan,model,cell,method,allocation,parameters,pattern,target,weights,measured_sparsity,metric,value"]
        func fmt(_ x: Double?) -> String { x.map { String(format: "%.6g", $0) } ?? "" }
        for e in dense + cells {
            let params = (e.allocation?.parameters ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            let prefix = [plan, e.model, e.id, e.method?.rawValue ?? "dense", e.allocation?.name ?? "", params, e.pattern?.description ?? "",
                          fmt(e.target), e.weights ?? "", fmt(e.measuredSparsity)].joined(separator: ",")
            if let bytes = e.modelBytes { lines.append(prefix + ",model_bytes,\(bytes)") }
            for (dataset, p) in e.perplexity.sorted(by: { $0.key < $1.key }) {
                lines.append(prefix + ",\(dataset)_ppl,\(fmt(p.perplexity))")
            }
            for (task, s) in e.zeroshot.sorted(by: { $0.key < $1.key }) {
                lines.append(prefix + ",\(task)_acc,\(fmt(s.acc))")
                lines.append(prefix + ",\(task)_acc_norm,\(fmt(s.accNorm))")
            }
            if let mean = e.zeroshotMean { lines.append(prefix + ",zeroshot_mean,\(fmt(mean))") }
            // A recovery's rows: metrics prefixed by its folder name (`lora-qv-lr1e-4-t250k/wikitext2_ppl`).
            for r in e.recovery ?? [] {
                let p = prefix + ",\(r.id)/"
                lines.append(p + "tokens_trained,\(r.tokensTrained)")
                lines.append(p + "tokens_per_second,\(fmt(r.tokensPerSecond))")
                lines.append(p + "training_seconds,\(fmt(r.trainingSeconds))")
                lines.append(p + "peak_mib,\(fmt(r.peakMiB))")
                for (dataset, score) in r.perplexity.sorted(by: { $0.key < $1.key }) { lines.append(p + "\(dataset)_ppl,\(fmt(score.perplexity))") }
                for (task, score) in r.zeroshot.sorted(by: { $0.key < $1.key }) {
                    lines.append(p + "\(task)_acc,\(fmt(score.acc))")
                    lines.append(p + "\(task)_acc_norm,\(fmt(score.accNorm))")
                }
                if let mean = r.zeroshotMean { lines.append(p + "zeroshot_mean,\(fmt(mean))") }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes `results.json` and `results.csv` into `directory` (atomically).
    public func write(to directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: directory.appendingPathComponent("results.json"), options: .atomic)
        try Data(csv.utf8).write(to: directory.appendingPathComponent("results.csv"), options: .atomic)
    }

    /// Seconds of compute the finished steps took (prune totals, measurements, recoveries' training). A converted
    /// cell's manifest repeats its F32 base's prune time, which counts once, through the base.
    public var totalSeconds: Double {
        var prunes = Set<String>()
        return (dense + cells).reduce(0) { sum, e in
            var run = "\(e.model)/\(e.id)"
            if let w = e.weights, let format = try? WeightFormat.parse(w), case .exported = format {
                run = String(run.dropLast(format.folderSuffix.count))
            }
            let prune = prunes.insert(run).inserted ? e.timings?["total"] ?? 0 : 0
            let recovery = (e.recovery ?? []).reduce(0) { sum, r in
                sum + r.trainingSeconds + r.perplexity.values.reduce(0) { $0 + $1.seconds } + (r.zeroshotSeconds ?? 0)
            }
            return sum + prune + e.perplexity.values.reduce(0) { $0 + $1.seconds } + (e.zeroshotSeconds ?? 0) + recovery
        }
    }
}
