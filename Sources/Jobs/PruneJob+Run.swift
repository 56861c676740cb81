import Evaluation
import Foundation
import Kernels
import Pruning
import TensorCore
import TensorIO
import Transformer

extension PruneJob {
    /// The tool's name and version, recorded in manifests.
    public static let tool = "dlp 0.1.0"

    /// Runs the job: memory check, calibration, dense evaluations, allocation (cache or pass),
    /// pruning pass with verification, pruned evaluations, exports, manifest, report and chart —
    /// all written into a staging directory renamed to ``output`` at the end. Returns the manifest
    /// that was written. Call ``validate()`` first.
    @discardableResult
    public func run(observer: JobObserver = .silent) throws -> PruningManifest {
        var timings = [String: Double]()
        func timed<T>(_ stage: String, _ body: () throws -> T) rethrows -> T {
            let start = Date()
            defer { timings[stage, default: 0] += Date().timeIntervalSince(start) }
            return try body()
        }
        let started = Date()
        let threads = computeThreads
        let checkpoint = try Checkpoint.open(model)
        let c = checkpoint.configuration
        try Self.validate(quantization, c)
        let formats = Set(exports.formats)
        if formats == [.gguf], checkpoint.format != .gguf {
            throw JobError.invalidSetting(setting: "formats", reason: "gguf needs a GGUF input; \(checkpoint.url.path) is a safetensors directory")
        }
        let need = LinearPruner(method: method, quantization: quantization, threads: threads).calibrationNeed
        let estimate = MemoryEstimate(configuration: c, samples: calibration.samples, sequenceLength: calibration.sequenceLength,
                                      mappedModelBytes: ModelSummary.diskSize(checkpoint.url),
                                      exportsSafetensors: formats.contains(.safetensors) || formats.contains(.sparse),
                                      hessians: need == .hessian || need == .inputNormsAndHessian,
                                      scores: method != .sparsegpt, decodesHead: !evaluations.isEmpty,
                                      embeddingRows: checkpoint.source.decodesRows, bf16: precision == .bf16)
        try JobError.checkMemory(needed: estimate.total, detail: "calibration activations \(formatBytes(estimate.calibrationActivations))",
                                 remedy: "lower --samples or --seqlen")
        if case .blockScores = allocation.requirement, let alpha = allocation.parameters["alpha"].flatMap(Double.init),
           alpha >= min(target, 1 - target) * 2 {
            observer.note("note: α = \(alpha) around p = \(target) reaches past [0, 1); ratios will be clamped")
        }
        let tokenizer = try checkpoint.tokenizer()
        let modelSHA = try timed("model digest") { try ModelIdentity.sha256(checkpoint) }
        let set = try timed("calibration") { try CalibrationSet(settings: calibration, tokenizer: tokenizer) }
        let precision = self.precision ?? .f32
        let evaluation = PerplexityEvaluation(sequenceLength: evaluationSequenceLength, maxWindows: evaluationWindows,
                                              threads: threads, precision: precision)
        // Pruning never computes logits: the LM head is decoded only for perplexities.
        let model = try LanguageModel(checkpoint: checkpoint,
                                      maxSequenceLength: max(calibration.sequenceLength, evaluation.sequenceLength),
                                      decodesHead: !evaluations.isEmpty)
        observer.note("prune: \(checkpoint.url.lastPathComponent), \(method.rawValue) + \(allocation.name), target \(target), pattern \(pattern)\(quantization.map { ", jointly quantized to \($0.rawValue)" } ?? ""); calibration \(set.windows.count) × \(calibration.sequenceLength) (\(calibration.sampling.rawValue)); estimated peak memory \(formatBytes(estimate.total))")

        func perplexity(_ m: LanguageModel, _ dataset: PerplexityDataset, _ label: String) throws -> PerplexityResult {
            try evaluation.evaluate(model: m, tokenizer: tokenizer, dataset: dataset) {
                observer.progress(JobProgress(task: "\(label) \(dataset.name)", done: $0.done, total: $0.total,
                                              unitsPerStep: $0.tokensPerStep, unit: "tok"))
            }
        }
        var dense: [PerplexityDataset: Double] = [:]
        for dataset in evaluations {
            dense[dataset] = try timed("evaluation (dense)") { try perplexity(model, dataset, "dense") }.perplexity
        }

        let pass = AllocationPass(allocation: allocation, target: target, cache: AllocationPass.defaultCache(),
                                  reuseCached: reuseCachedAllocation, threads: threads, precision: precision)
        let allocated = try pass.run(model: model, calibration: set, modelSHA256: modelSHA, observer: observer)
        timings["allocation pass"] = allocated.seconds
        let targets = try BlockTargets(pattern: pattern, ratios: allocated.ratios, target: target)

        let staged = try StagedDirectory(destination: outputURL)
        let staging = staged.staging
        let store = try PrunedWeightStore(directory: staging.appendingPathComponent(".work"), checkpoint: checkpoint)
        let pipeline = PruningPipeline(model: model, windows: set.windows, threads: threads, precision: precision)
        let blocks = try timed("pruning pass") {
            try pipeline.prune(targets: targets, pruner: LinearPruner(method: method, quantization: quantization, threads: threads),
                               store: store) {
                observer.progress(JobProgress(task: "pruning pass", done: $0.block, total: $0.blocks,
                                              unitsPerStep: Double($0.tokensPerBlock) / Double($0.blocks), unit: "tok"))
            }
        }

        var records = [PruningManifest.Evaluation]()
        if !evaluations.isEmpty {
            // The dense model's embedding and head are shared: a second decoded copy would be the
            // largest allocation of the run for a big-vocabulary model.
            let pruned = model.replacingBlocks { try store.load($0) }
            for dataset in evaluations {
                let result = try timed("evaluation (pruned)") { try perplexity(pruned, dataset, "pruned") }
                records.append(PruningManifest.Evaluation(
                    dataset: dataset.name, protocolDescription: PerplexityEvaluation.protocolDescription,
                    sequenceLength: result.sequenceLength, windows: result.windows, densePerplexity: dense[dataset],
                    prunedPerplexity: result.perplexity))
            }
        }

        var provenance = ["method": method.rawValue, "allocation": allocation.name, "target_sparsity": "\(target)",
                          "pattern": "\(pattern)", "source_sha256": modelSHA]
        if let quantization { provenance["joint_quantization"] = quantization.rawValue }
        var ggufLinears: PruningManifest.GGUFLinears?
        try timed("export") {
            if formats.contains(.gguf), checkpoint.format == .gguf {
                let fallbacks = try GGUFExport.write(checkpoint, to: staging.appendingPathComponent("model.gguf"), dtype: exports.ggufType,
                                                     provenance: provenance, weights: { try store.load($0) })
                ggufLinears = .init(type: exports.ggufType, fallbacks: fallbacks)
            }
            if formats.contains(.safetensors) {
                let hf = staging.appendingPathComponent(ExportFormat.safetensors.outputName)
                try HuggingFaceExport.write(checkpoint, to: hf, weights: { try store.load($0) })
                try tokenizer.definition.writeHuggingFaceFiles(to: hf, chatTemplate: checkpoint.chatTemplate())
            }
            if formats.contains(.sparse) {
                let sparse = staging.appendingPathComponent(ExportFormat.sparse.outputName)
                try SparseExport.write(checkpoint, to: sparse, valueType: exports.sparseType,
                                       structure: Self.sparsityStructure(pattern: pattern, ratios: allocated.ratios),
                                       weights: { try store.load($0) })
                try tokenizer.definition.writeHuggingFaceFiles(to: sparse, chatTemplate: checkpoint.chatTemplate())
            }
        }
        store.remove()
        timings["total"] = Date().timeIntervalSince(started)
        let manifest = PruningManifest(
            tool: Self.tool, createdAt: ISO8601DateFormatter().string(from: Date()),
            command: command.isEmpty ? CommandLine.arguments : command,
            model: .init(path: checkpoint.url.path, format: checkpoint.format, sha256: modelSHA, architecture: c.architecture,
                         layerCount: c.layerCount, prunableParameters: blocks.reduce(0) { $0 + $1.counts.reduce(0, +) }),
            settings: .init(method: method, allocation: allocation, targetSparsity: target, pattern: pattern,
                            threads: threads.count, quantization: quantization, precision: self.precision),
            calibration: .init(settings: calibration, sourceSHA256: set.sourceDigest, windowsSHA256: set.windowsDigest),
            allocationCacheHit: allocated.cacheHit, allocationCacheKey: allocated.cacheKey,
            blocks: Self.outcomes(blocks, statistics: allocated.statistics, allocationSeconds: allocated.blockSeconds),
            overallSparsity: Self.overallSparsity(blocks), evaluation: records, timings: timings,
            peakResidentBytes: ForwardBenchmark.peakResidentBytes(), outputs: Self.outputs(in: staging),
            sparseValueType: formats.contains(.sparse) ? exports.sparseType : nil, ggufLinears: ggufLinears,
            storedSparsity: Self.storedSparsity(blocks), memoryEstimate: estimate)
        try Job.encoder.encode(manifest).write(to: staging.appendingPathComponent("manifest.json"))
        try Data(PruningReport.markdown(manifest).utf8).write(to: staging.appendingPathComponent("report.md"))
        try Data(PruningReport.svg(manifest).utf8).write(to: staging.appendingPathComponent("sparsity.svg"))
        try staged.commit()
        return manifest
    }

    static func outcomes(_ blocks: [PruningPipeline.BlockResult], statistics: [Double]?,
                         allocationSeconds: [PruningPipeline.BlockSeconds]? = nil) -> [PruningManifest.BlockOutcome] {
        let roles = TensorRole.linears.map(\.rawValue)
        return blocks.map { b in
            PruningManifest.BlockOutcome(
                block: b.block, requestedRatio: b.target.fraction, measuredSparsity: b.sparsity,
                matrices: roles.indices.map { i in
                    PruningManifest.MatrixOutcome(role: roles[i], zeros: b.zeros[i], count: b.counts[i],
                                                  sparsity: Double(b.zeros[i]) / Double(b.counts[i]), storedZeros: b.storedZeros?[i])
                },
                statistic: statistics?[b.block], notes: b.notes,
                allocationSeconds: allocationSeconds.flatMap { b.block < $0.count ? $0[b.block] : nil }, pruningSeconds: b.seconds)
        }
    }

    static func overallSparsity(_ blocks: [PruningPipeline.BlockResult]) -> Double {
        let zeros = blocks.reduce(0) { $0 + $1.zeros.reduce(0, +) }, total = blocks.reduce(0) { $0 + $1.counts.reduce(0, +) }
        return Double(zeros) / Double(max(total, 1))
    }

    /// Joint quantization only: the written zeros over all block linears.
    static func storedSparsity(_ blocks: [PruningPipeline.BlockResult]) -> Double? {
        guard blocks.allSatisfy({ $0.storedZeros != nil }), !blocks.isEmpty else { return nil }
        let zeros = blocks.reduce(0) { $0 + $1.storedZeros!.reduce(0, +) }, total = blocks.reduce(0) { $0 + $1.counts.reduce(0, +) }
        return Double(zeros) / Double(max(total, 1))
    }

    /// `sparsity_structure` of a sparse export: the N:M pattern when every block has the same one,
    /// else `"unstructured"` (mixed N:M is no single structure).
    public static func sparsityStructure(pattern: SparsityPattern, ratios: [Double]) -> String {
        guard case .nm = pattern, let first = ratios.first, ratios.allSatisfy({ abs($0 - first) < 1e-12 }) else { return "unstructured" }
        return pattern.description
    }

    /// The exported files present in `directory`, with their sizes.
    static func outputs(in directory: URL) -> [PruningManifest.Output] {
        ["model.gguf", "hf/config.json", "hf/model.safetensors", "hf/tokenizer.json",
         "sparse/config.json", "sparse/model.safetensors", "sparse/tokenizer.json"].compactMap { name in
            let url = directory.appendingPathComponent(name)
            guard let size = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber else { return nil }
            return .init(file: name, bytes: size.intValue)
        }
    }
}
