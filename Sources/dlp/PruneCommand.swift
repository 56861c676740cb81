import Evaluation
import Foundation
import Kernels
import Pruning
import TensorCore
import TensorIO
import Transformer

/// `dlp prune MODEL ... --output DIR`: the main job. Allocates per-block sparsities, prunes every
/// block sequentially, verifies the result, exports the pruned model and writes its manifest,
/// report and chart.
struct PruneCommand: Command {
    static let name = "prune"
    static let summary = "prune a model (DLP, OWL or uniform × magnitude, Wanda or SparseGPT) and export it"
    static let usage = """
        usage: dlp prune MODEL --output DIR [--method magnitude|wanda|sparsegpt] [options]
          MODEL                   a GGUF file, a safetensors directory, or a fetched model's short name
          --output DIR            where the pruned model, manifest.json, report.md and sparsity.svg go
          --force                 replace DIR if it exists
          --method M              magnitude | wanda (default) | sparsegpt
        """ + "\n" + PruningOptions.usage + "\n" + CalibrationOptions.usage + "\n" + """
          --evaluate D[,D...]     perplexity before and after pruning: wikitext2:PATH | ptb[:PATH] | c4[:PATH] | text:PATH
          --eval-seqlen T         evaluation window (default 2048)
          --eval-windows N        evaluate only the first N windows (default all)
          --gguf-dtype f32|f16    element type of pruned linears in model.gguf (default f32)
          --formats gguf,safetensors
                                  what to export (default both; GGUF needs a GGUF input)
          --json                  print the manifest as JSON on stdout
        Outputs in DIR: model.gguf (the input's names and metadata; dlp perplexity/eval accept DIR),
        hf/ (config.json, model.safetensors and tokenizer files for transformers), manifest.json, report.md,
        sparsity.svg.
        Writing is atomic: everything is written to a temporary directory beside DIR, then renamed.
        """
    let options: PruningOptions
    let method: PruningMethod
    let output: URL
    let force: Bool
    let evaluations: [PerplexityDataset]
    let evaluation: PerplexityEvaluation
    let ggufType: DType
    let formats: Set<String>
    let json: Bool

    init(arguments: inout Arguments) throws {
        json = arguments.flag("--json")
        force = arguments.flag("--force")
        method = try arguments.option("--method") { text in
            do { return try PruningMethod.parse(text) } catch { throw UsageError("\(error)") }
        } ?? .wanda
        guard let path = try arguments.option("--output") else { throw UsageError("--output DIR is required") }
        output = URL(fileURLWithPath: path).standardizedFileURL
        let fm = FileManager.default
        if fm.fileExists(atPath: output.path), !force {
            throw UsageError("--output \(path) exists; choose another directory or pass --force to replace it")
        }
        let parent = output.deletingLastPathComponent()
        if !fm.fileExists(atPath: parent.path) {
            do { try fm.createDirectory(at: parent, withIntermediateDirectories: true) } catch {
                throw UsageError("--output \(path): cannot create the parent directory \(parent.path): \(error.localizedDescription)")
            }
        }
        guard fm.isWritableFile(atPath: parent.path) else {
            throw UsageError("--output \(path): the parent directory \(parent.path) is not writable")
        }
        let home = ModelReference.home()
        evaluations = try (arguments.option("--evaluate").map { $0.split(separator: ",").map(String.init) } ?? []).map { spec in
            let dataset: PerplexityDataset
            do { dataset = try PerplexityDataset.parse(spec, home: home) } catch { throw UsageError("--evaluate: \(error)") }
            guard fm.isReadableFile(atPath: dataset.url.path) else { throw UsageError("--evaluate \(spec): cannot read \(dataset.url.path)") }
            return dataset
        }
        let evalLength = try arguments.option("--eval-seqlen", positiveInt) ?? 2048
        guard evalLength >= 2 else { throw UsageError("--eval-seqlen must be at least 2") }
        let evalWindows = try arguments.option("--eval-windows", positiveInt)
        ggufType = try arguments.option("--gguf-dtype") { (text: String) throws -> DType in
            switch text.lowercased() {
            case "f32": return .f32
            case "f16": return .f16
            default: throw UsageError("expected f32 or f16")
            }
        } ?? .f32
        formats = Set(try (arguments.option("--formats") ?? "gguf,safetensors").split(separator: ",").map { part in
            let name = String(part)
            guard ["gguf", "safetensors"].contains(name) else { throw UsageError("--formats: unknown format '\(name)'; valid: gguf, safetensors") }
            return name
        })
        options = try PruningOptions(arguments: &arguments)
        evaluation = PerplexityEvaluation(sequenceLength: evalLength, maxWindows: evalWindows, threads: options.threads)
    }

    func run() throws {
        var timings = [String: Double]()
        func timed<T>(_ stage: String, _ body: () throws -> T) rethrows -> T {
            let start = Date()
            defer { timings[stage, default: 0] += Date().timeIntervalSince(start) }
            return try body()
        }
        let started = Date()
        let checkpoint = try Checkpoint.open(options.model)
        let c = checkpoint.configuration
        if formats.contains("gguf"), checkpoint.format != .gguf, formats.count == 1 {
            throw UsageError("--formats gguf needs a GGUF input; \(checkpoint.url.path) is a safetensors directory")
        }
        let calibration = options.calibration.settings
        let estimate = MemoryEstimate(configuration: c, samples: calibration.samples, sequenceLength: calibration.sequenceLength,
                                      mappedModelBytes: ModelSummary.diskSize(checkpoint.url),
                                      exportsSafetensors: formats.contains("safetensors"))
        let physical = Int(ProcessInfo.processInfo.physicalMemory)
        if estimate.total > physical * 9 / 10 {
            throw UsageError("this run needs about \(formatBytes(estimate.total)) (calibration activations \(formatBytes(estimate.calibrationActivations))), more than 90% of the machine's \(formatBytes(physical)); lower --samples or --seqlen")
        }
        let tokenizer = try checkpoint.tokenizer()
        let modelSHA = try timed("model digest") { try SHA256Digest.file(modelFile(checkpoint)) }
        let set = try timed("calibration") { try CalibrationSet(settings: calibration, tokenizer: tokenizer) }
        let model = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: max(calibration.sequenceLength, evaluation.sequenceLength))
        FileHandle.standardError.write(Data("prune: \(checkpoint.url.lastPathComponent), \(method.rawValue) + \(options.allocation.name), target \(options.target), pattern \(options.pattern); calibration \(set.windows.count) × \(calibration.sequenceLength) (\(calibration.sampling.rawValue)); estimated peak memory \(formatBytes(estimate.total))\n".utf8))

        var results: [PerplexityDataset: Double] = [:]
        for dataset in evaluations {
            let bar = ProgressBar(label: "dense \(dataset.name)", unit: "tok")
            results[dataset] = try timed("evaluation (dense)") {
                try evaluation.evaluate(model: model, tokenizer: tokenizer, dataset: dataset) { bar.update($0.done, of: $0.total, unitsPerStep: $0.tokensPerStep) }.perplexity
            }
        }

        let allocation = try options.allocate(model: model, calibration: set, modelSHA256: modelSHA)
        timings["allocation pass"] = allocation.seconds
        let targets = try BlockTargets(pattern: options.pattern, ratios: allocation.ratios, target: options.target)

        // Everything is written into a temporary sibling of DIR and renamed at the end.
        let fm = FileManager.default
        let staging = output.deletingLastPathComponent().appendingPathComponent(".\(output.lastPathComponent).tmp-\(getpid())")
        try? fm.removeItem(at: staging)
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        var succeeded = false
        defer { if !succeeded { try? fm.removeItem(at: staging) } }
        let store = try PrunedWeightStore(directory: staging.appendingPathComponent(".work"), checkpoint: checkpoint)

        let pruner = LinearPruner(method: method, threads: options.threads)
        let pipeline = PruningPipeline(model: model, windows: set.windows, threads: options.threads)
        let bar = ProgressBar(label: "pruning pass", unit: "tok")
        let blocks = try timed("pruning pass") {
            try pipeline.prune(targets: targets, pruner: pruner, store: store) { bar.update($0.block, of: $0.blocks, unitsPerStep: Double($0.tokensPerBlock) / Double($0.blocks)) }
        }

        // The dense model's embedding and head are shared: a second decoded copy would be the
        // largest allocation of the run for a big-vocabulary model.
        let pruned = model.replacingBlocks { try store.load($0) }
        var evaluationRecords = [PruningManifest.Evaluation]()
        for dataset in evaluations {
            let bar = ProgressBar(label: "pruned \(dataset.name)", unit: "tok")
            let result = try timed("evaluation (pruned)") {
                try evaluation.evaluate(model: pruned, tokenizer: tokenizer, dataset: dataset) { bar.update($0.done, of: $0.total, unitsPerStep: $0.tokensPerStep) }
            }
            evaluationRecords.append(PruningManifest.Evaluation(
                dataset: dataset.name, protocolDescription: PerplexityEvaluation.protocolDescription,
                sequenceLength: result.sequenceLength, windows: result.windows, densePerplexity: results[dataset],
                prunedPerplexity: result.perplexity))
        }

        var outputs = [PruningManifest.Output]()
        let provenance = ["method": method.rawValue, "allocation": options.allocation.name, "target_sparsity": "\(options.target)",
                          "pattern": "\(options.pattern)", "source_sha256": modelSHA]
        try timed("export") {
            if formats.contains("gguf"), checkpoint.format == .gguf {
                try GGUFExport.write(checkpoint, to: staging.appendingPathComponent("model.gguf"), dtype: ggufType,
                                     provenance: provenance, weights: { try store.load($0) })
            }
            if formats.contains("safetensors") {
                let hf = staging.appendingPathComponent("hf")
                try HuggingFaceExport.write(checkpoint, to: hf, weights: { try store.load($0) })
                try tokenizer.definition.writeHuggingFaceFiles(to: hf)
            }
        }
        store.remove()
        let roles = TensorRole.linears.map(\.rawValue)
        let blockOutcomes = blocks.map { b in
            PruningManifest.BlockOutcome(
                block: b.block, requestedRatio: b.target.fraction, measuredSparsity: b.sparsity,
                matrices: zip(roles, zip(b.zeros, b.counts)).map { PruningManifest.MatrixOutcome(role: $0, zeros: $1.0, count: $1.1, sparsity: Double($1.0) / Double($1.1)) },
                statistic: allocation.statistics?[b.block], notes: b.notes)
        }
        let totalZeros = blocks.reduce(0) { $0 + $1.zeros.reduce(0, +) }, total = blocks.reduce(0) { $0 + $1.counts.reduce(0, +) }
        timings["total"] = Date().timeIntervalSince(started)
        var manifest = PruningManifest(
            tool: DLPVersion.string, createdAt: ISO8601DateFormatter().string(from: Date()), command: CommandLine.arguments,
            model: .init(path: checkpoint.url.path, format: checkpoint.format.rawValue, sha256: modelSHA,
                         architecture: c.architecture.rawValue, layerCount: c.layerCount, prunableParameters: total),
            settings: .init(method: method.rawValue, allocation: options.allocation.name, allocationParameters: options.allocation.parameters,
                            targetSparsity: options.target, pattern: "\(options.pattern)", threads: options.threads.count),
            calibration: .init(settings: calibration, sourceSHA256: set.sourceDigest, windowsSHA256: set.windowsDigest),
            allocationCacheHit: allocation.cacheHit, allocationCacheKey: allocation.cacheKey, blocks: blockOutcomes,
            overallSparsity: Double(totalZeros) / Double(max(total, 1)), evaluation: evaluationRecords, timings: timings,
            peakResidentBytes: ForwardBenchmark.peakResidentBytes(), outputs: [])
        for name in ["model.gguf", "hf/config.json", "hf/model.safetensors", "hf/tokenizer.json"] {
            let url = staging.appendingPathComponent(name)
            if let size = (try? fm.attributesOfItem(atPath: url.path))?[.size] as? NSNumber {
                outputs.append(.init(file: name, bytes: size.intValue))
            }
        }
        manifest.outputs = outputs
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let manifestData = try encoder.encode(manifest)
        try manifestData.write(to: staging.appendingPathComponent("manifest.json"))
        try Data(PruningReport.markdown(manifest).utf8).write(to: staging.appendingPathComponent("report.md"))
        try Data(PruningReport.svg(manifest).utf8).write(to: staging.appendingPathComponent("sparsity.svg"))

        // Replace DIR: move an existing one aside first, so a failure never leaves neither.
        let aside = output.deletingLastPathComponent().appendingPathComponent(".\(output.lastPathComponent).old-\(getpid())")
        if fm.fileExists(atPath: output.path) { try fm.moveItem(at: output, to: aside) }
        try fm.moveItem(at: staging, to: output)
        try? fm.removeItem(at: aside)
        succeeded = true

        if json {
            print(String(decoding: manifestData, as: UTF8.self))
        } else {
            print(Self.summary(manifest, directory: output))
        }
    }

    static func summary(_ m: PruningManifest, directory: URL) -> String {
        var lines = ["pruned \(URL(fileURLWithPath: m.model.path).lastPathComponent): \(m.settings.method) + \(m.settings.allocation), target \(String(format: "%.1f%%", m.settings.targetSparsity * 100)), measured \(String(format: "%.2f%%", m.overallSparsity * 100)) of \(m.model.prunableParameters) block-linear weights"]
        let ratios = m.blocks.map(\.requestedRatio)
        lines.append(String(format: "  per-block ratios %.3f … %.3f (block 0: %.3f, last: %.3f)", ratios.min() ?? 0, ratios.max() ?? 0, ratios.first ?? 0, ratios.last ?? 0))
        for e in m.evaluation {
            lines.append("  \(e.dataset) perplexity: dense \(e.densePerplexity.map { String(format: "%.3f", $0) } ?? "—") → pruned \(String(format: "%.3f", e.prunedPerplexity)) (\(e.windows) × \(e.sequenceLength))")
        }
        lines.append(String(format: "  time %.1f s, peak memory %.0f MiB", m.timings["total"] ?? 0, Double(m.peakResidentBytes) / 1_048_576))
        lines.append("  wrote \(directory.path): " + (m.outputs.map(\.file) + ["manifest.json", "report.md", "sparsity.svg"]).joined(separator: ", "))
        return lines.joined(separator: "\n")
    }
}

/// The tool's name and version, recorded in manifests.
enum DLPVersion {
    static let string = "dlp 0.1.0"
}
