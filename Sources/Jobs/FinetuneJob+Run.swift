import Evaluation
import Foundation
import Kernels
import Pruning
import TensorCore
import Training
import Transformer

extension FinetuneJob {
    /// Runs the job: data split, (resumed) training with held-out losses and saved state,
    /// perplexities before and after, the adapter, the merged model when asked, manifest, report
    /// and chart — the outputs written into a staging directory renamed to ``output`` at the end,
    /// then `OUTPUT.partial/` removed. Call ``validate()`` first.
    @discardableResult
    public func run(observer: JobObserver = .silent) throws -> FinetuneManifest {
        var timings = [String: Double]()
        func timed<T>(_ stage: String, _ body: () throws -> T) rethrows -> T {
            let start = Date()
            defer { timings[stage, default: 0] += Date().timeIntervalSince(start) }
            return try body()
        }
        let started = Date()
        let threads = computeThreads
        threads.applyToBLAS()
        let checkpoint = try Checkpoint.open(model)
        let c = checkpoint.configuration
        if let merge, Set(merge.formats) == [.gguf], checkpoint.format != .gguf {
            throw JobError.invalidSetting(setting: "formats", reason: "gguf needs a GGUF input; \(checkpoint.url.path) is a safetensors directory")
        }
        try Self.checkMemory(c, sequenceLength: sequenceLength)
        var notes = [String]()
        func note(_ text: String) { notes.append(text); observer.note("note: \(text)") }
        if !lora.masked {
            note("unmasked LoRA: merging B·A into the weights fills their pruned zeros (the model is no longer sparse); keep the adapter separate or use --masked")
        }
        let prune = try Self.pruneRecord(model: model, checkpoint: checkpoint)
        let tokenizer = try checkpoint.tokenizer()
        let modelSHA = try timed("model digest") { try ModelIdentity.sha256(checkpoint) }
        let corpus = try timed("data") {
            try FinetuneCorpus(source: data, tokenizer: tokenizer, sequenceLength: sequenceLength, heldOut: heldOutWindows, seed: seed,
                               excluding: prune.map { .init(settings: $0.calibration, sourceSHA256: $0.calibrationSourceSHA256,
                                                            windowsSHA256: $0.calibrationWindowsSHA256) })
        }
        let steps = totalSteps, perStep = sequencesPerStep * sequenceLength
        if steps * sequencesPerStep > corpus.training.count {
            note(String(format: "%d steps × %d sequences read the %d training windows %.2f times (the text holds %d training tokens)",
                        steps, sequencesPerStep, corpus.training.count, Double(steps * sequencesPerStep) / Double(corpus.training.count),
                        corpus.description.trainingTokens))
        }
        for dataset in evaluations where dataset.url.standardizedFileURL == URL(fileURLWithPath: data.path).standardizedFileURL {
            note("--evaluate \(dataset.name) reads the training text \(data.path): its perplexity is not held out")
        }
        observer.note("finetune: \(checkpoint.url.lastPathComponent), LoRA r \(lora.rank) α \(lora.alpha) on \(lora.targets.map { PEFTAdapter.moduleName($0) }.joined(separator: ",")) (\(lora.masked ? "masked" : "unmasked")); \(steps) steps × \(sequencesPerStep) × \(sequenceLength) tokens; data: \(corpus.description.trainingWindows) training, \(corpus.description.heldOutOffsets.count) held-out windows; exclusion: \(corpus.description.exclusion)")

        let base = try timed("decode") { try (0..<c.layerCount).map { try checkpoint.block($0) } }
        let baseFinalNorm = try checkpoint.outputNorm()
        let trainingModel = try timed("decode") {
            try TrainingModel<Float>(checkpoint: checkpoint, maxSequenceLength: sequenceLength, blockWeights: { base[$0] })
        }
        let identity = FinetuneIdentity(modelSHA256: modelSHA, data: corpus.description, hyperparameters: hyperparameters)
        let stateURL = partialURL.appendingPathComponent(FinetuneCheckpoint.fileName)
        let trainer: FinetuneTrainer
        if resume {
            let saved = try FinetuneCheckpoint.read(from: stateURL, identity: identity)
            trainer = try FinetuneTrainer(model: trainingModel, training: corpus.training, heldOut: corpus.heldOut,
                                          settings: hyperparameters, resuming: saved)
            observer.note("resuming at step \(saved.progress.step) of \(steps) from \(stateURL.path)")
        } else {
            try? FileManager.default.removeItem(at: partialURL)
            trainer = FinetuneTrainer(model: trainingModel, training: corpus.training, heldOut: corpus.heldOut, settings: hyperparameters)
        }
        trainer.keepsActivations = keepsActivations

        let evaluation = PerplexityEvaluation(sequenceLength: evaluationSequenceLength, maxWindows: evaluationWindows, threads: threads)
        var languageModel: LanguageModel?
        if !evaluations.isEmpty {
            languageModel = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: evaluationSequenceLength,
                                              blockWeights: { base[$0] })
        }
        func perplexity(_ m: LanguageModel, _ dataset: PerplexityDataset, _ label: String) throws -> PerplexityResult {
            try evaluation.evaluate(model: m, tokenizer: tokenizer, dataset: dataset) {
                observer.progress(JobProgress(task: "\(label) \(dataset.name)", done: $0.done, total: $0.total,
                                              unitsPerStep: $0.tokensPerStep, unit: "tok"))
            }
        }
        var before = [PerplexityDataset: Double]()
        for dataset in evaluations {
            before[dataset] = try timed("evaluation (before)") { try perplexity(languageModel!, dataset, "before") }.perplexity
        }

        // Training, with the state of the last finished step saved every saveInterval steps and
        // on SIGINT/SIGTERM.
        try FileManager.default.createDirectory(at: partialURL, withIntermediateDirectories: true)
        let saver = FinetuneStateSaver(url: stateURL, identity: identity)
        saver.update(trainer.checkpoint)
        let ticket = Interruption.runOnInterrupt { saver.saveQuietly() }
        defer { Interruption.forget(ticket) }
        let firstStep = trainer.progress.step
        let trainingStart = Date()
        // The held-out loss before training (a resumed run has it, and its next is on the schedule).
        if firstStep == 0, let loss = trainer.recordHeldOutLoss() {
            observer.note(String(format: "step 0/%d: held-out loss %.4f (perplexity %.2f)", steps, loss, exp(loss)))
        }
        saver.update(trainer.checkpoint)
        let task = firstStep == 0 ? "fine-tuning" : "fine-tuning from step \(firstStep)"
        if !trainer.isFinished {
            // Starts the bar's clock before the first step, so its rate counts that step's time.
            observer.progress(JobProgress(task: task, done: 0, total: steps - firstStep, unitsPerStep: Double(perStep), unit: "tok"))
        }
        while !trainer.isFinished {
            let record = trainer.step()
            observer.progress(JobProgress(task: task, done: record.step - firstStep, total: steps - firstStep,
                                          unitsPerStep: Double(perStep), unit: "tok"))
            if record.step % heldOutInterval == 0 || trainer.isFinished {
                let heldOut = trainer.recordHeldOutLoss()
                let elapsed = Date().timeIntervalSince(trainingStart)
                let rate = Double((record.step - firstStep) * perStep) / max(elapsed, 1e-9)
                observer.note(String(format: "step %d/%d: loss %.4f%@, lr %.3g, grad norm %.3f, %.0f tok/s, ETA %.0f s",
                                     record.step, steps, record.loss, heldOut.map { String(format: ", held-out %.4f", $0) } ?? "",
                                     record.learningRate, record.gradientNorm, rate, Double((steps - record.step) * perStep) / max(rate, 1e-9)))
            }
            saver.update(trainer.checkpoint)
            if record.step % saveInterval == 0 { try saver.save() }
        }
        try saver.save()
        timings["training"] = trainer.progress.trainingSeconds

        let parameters = trainer.parameters
        let merged: @Sendable (Int) throws -> BlockWeights = { parameters.merged(base[$0], block: $0) }
        let finalNorm = parameters.mergedFinalNorm(baseFinalNorm)
        let zeros = try timed("zero count") { try Self.zeroCounts(base: base, merged: merged) }
        let keepsZeros = zeros.allSatisfy { $0.zerosBefore == $0.zerosAfter }
        if lora.masked, !keepsZeros {
            note("the masked merge changed the zero count of \(zeros.filter { $0.zerosBefore != $0.zerosAfter }.count) matrices (a kept weight whose sum rounded to exactly 0)")
        }
        var records = [FinetuneManifest.Evaluation]()
        if let languageModel {
            let tuned = languageModel.replacingBlocks(merged, finalNorm: lora.trainsNormGains ? finalNorm : nil)
            for dataset in evaluations {
                let result = try timed("evaluation (after)") { try perplexity(tuned, dataset, "after") }
                records.append(.init(dataset: dataset.name, protocolDescription: PerplexityEvaluation.protocolDescription,
                                     sequenceLength: result.sequenceLength, windows: result.windows,
                                     perplexityBefore: before[dataset] ?? .nan, perplexityAfter: result.perplexity))
            }
        }

        let staged = try StagedDirectory(destination: outputURL)
        let staging = staged.staging
        let hfBase = URL(fileURLWithPath: model).appendingPathComponent("hf")
        let baseName = FileManager.default.fileExists(atPath: hfBase.appendingPathComponent("config.json").path)
            ? hfBase.standardizedFileURL.path : checkpoint.url.path
        try timed("export") {
            try PEFTAdapter.write(parameters, configuration: c, convention: checkpoint.rotaryConvention, baseModel: baseName,
                                  to: staging.appendingPathComponent("adapter"))
            guard let merge else { return }
            let norm = lora.trainsNormGains ? finalNorm : nil
            let formats = Set(merge.formats)
            let provenance = ["finetune": "LoRA r \(lora.rank) alpha \(lora.alpha) \(lora.masked ? "masked" : "unmasked") merged",
                              "source_sha256": modelSHA]
            if formats.contains(.gguf), checkpoint.format == .gguf {
                try GGUFExport.write(checkpoint, to: staging.appendingPathComponent("model.gguf"), dtype: merge.ggufType,
                                     provenance: provenance, outputNorm: norm, weights: merged)
            } else if formats.contains(.gguf) {
                note("model.gguf not written: the input is not a GGUF file")
            }
            if formats.contains(.safetensors) {
                let hf = staging.appendingPathComponent(PruneJob.ExportFormat.safetensors.outputName)
                try HuggingFaceExport.write(checkpoint, to: hf, weights: merged, outputNorm: norm)
                try tokenizer.definition.writeHuggingFaceFiles(to: hf, chatTemplate: checkpoint.chatTemplate())
            }
            if formats.contains(.sparse) {
                let sparse = staging.appendingPathComponent(PruneJob.ExportFormat.sparse.outputName)
                try SparseExport.write(checkpoint, to: sparse, valueType: merge.sparseType, weights: merged, outputNorm: norm)
                try tokenizer.definition.writeHuggingFaceFiles(to: sparse, chatTemplate: checkpoint.chatTemplate())
            }
        }
        timings["total"] = Date().timeIntervalSince(started)
        let progress = trainer.progress
        let trainedSteps = progress.step
        let manifest = FinetuneManifest(
            tool: PruneJob.tool, createdAt: ISO8601DateFormatter().string(from: Date()),
            command: command.isEmpty ? CommandLine.arguments : command,
            model: .init(path: checkpoint.url.path, format: checkpoint.format, sha256: modelSHA, architecture: c.architecture,
                         layerCount: c.layerCount),
            prune: prune, data: corpus.description, settings: self, hyperparameters: hyperparameters,
            trainableParameters: parameters.values.count, tokensTrained: trainedSteps * perStep,
            predictionsTrained: trainedSteps * sequencesPerStep * (sequenceLength - 1), epochs: trainer.epochs,
            steps: progress.steps, heldOut: progress.heldOut, resumedAt: progress.resumedAt, evaluation: records,
            mergeKeepsZeros: keepsZeros, zeros: zeros, threads: threads.count, keepsActivations: keepsActivations,
            tokensPerSecond: Double(progress.steps.count * perStep) / max(progress.steps.reduce(0) { $0 + $1.seconds }, 1e-9),
            timings: timings, peakResidentBytes: ForwardBenchmark.peakResidentBytes(), outputs: [], notes: notes)
        var written = manifest
        written.outputs = Self.outputs(in: staging)
        try Job.encoder.encode(written).write(to: staging.appendingPathComponent("manifest.json"))
        try Data(written.markdown.utf8).write(to: staging.appendingPathComponent("report.md"))
        try Data(written.chart.utf8).write(to: staging.appendingPathComponent("loss.svg"))
        try staged.commit()
        try? FileManager.default.removeItem(at: partialURL)
        return written
    }

    /// The prune that made `model`, from the `manifest.json` of its directory (a `dlp prune`
    /// output, or a `dlp finetune` output that recorded one); nil when there is none.
    static func pruneRecord(model: String, checkpoint: Checkpoint) throws -> FinetuneManifest.Prune? {
        var candidates = [URL]()
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory), isDirectory.boolValue {
            candidates.append(URL(fileURLWithPath: model).appendingPathComponent("manifest.json"))
        }
        candidates.append(checkpoint.url.deletingLastPathComponent().appendingPathComponent("manifest.json"))
        for url in candidates {
            guard let data = FileManager.default.contents(atPath: url.path) else { continue }
            if let m = try? JSONDecoder().decode(PruningManifest.self, from: data) {
                return .init(method: m.settings.method, allocation: m.settings.allocation, targetSparsity: m.settings.targetSparsity,
                             measuredSparsity: m.overallSparsity, calibration: m.calibration.settings,
                             calibrationSourceSHA256: m.calibration.sourceSHA256,
                             calibrationWindowsSHA256: m.calibration.windowsSHA256)
            }
            if let m = try? JSONDecoder().decode(FinetuneManifest.self, from: data) { return m.prune }
            throw JobError.invalidSetting(setting: "model", reason: "\(url.path) is neither a prune nor a fine-tuning manifest, so the calibration text to hold out is unknown; give the model file itself from another directory")
        }
        return nil
    }

    /// Zeros of every block linear before and after merging.
    static func zeroCounts(base: [BlockWeights], merged: (Int) throws -> BlockWeights) throws -> [FinetuneManifest.MatrixZeros] {
        var result = [FinetuneManifest.MatrixZeros]()
        for (block, weights) in base.enumerated() {
            let after = try merged(block)
            for role in TensorRole.linears {
                let a = weights[linear: role].storage, b = after[linear: role].storage
                result.append(.init(block: block, role: role.rawValue, count: a.count, zerosBefore: a.reduce(0) { $0 + ($1 == 0 ? 1 : 0) },
                                    zerosAfter: b.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }))
            }
        }
        return result
    }

    /// The written files with their sizes.
    static func outputs(in directory: URL) -> [FinetuneManifest.Output] {
        let adapter = [PEFTAdapter.configFileName, PEFTAdapter.weightsFileName, PEFTAdapter.dlpFileName, PEFTAdapter.normGainsFileName]
            .map { "adapter/" + $0 }
        return (adapter + PruneJob.outputs(in: directory).map(\.file)).compactMap { name in
            let url = directory.appendingPathComponent(name)
            guard let size = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber else { return nil }
            return .init(file: name, bytes: size.intValue)
        }
    }

    /// Refuses a run whose decoded weights and one block's training activations exceed 90% of
    /// the machine's memory: every block decoded in F32, the embedding (and head), the residual
    /// stream `(L + 1)·T·D`, and per live block about `12·T·max(D, F) + H·T²` values twice
    /// (forward kept for the backward, and the backward's own).
    static func checkMemory(_ c: ModelConfiguration, sequenceLength t: Int) throws {
        let blockValues = TensorRole.linears.reduce(0) { $0 + $1.shape(c).reduce(1, *) } + 2 * c.hiddenSize
        let weights = 4 * (c.layerCount * blockValues + (c.tiedEmbeddings ? 1 : 2) * c.vocabularySize * c.hiddenSize)
        let activations = 4 * ((c.layerCount + 1) * t * c.hiddenSize + 2 * (12 * t * max(c.hiddenSize, c.intermediateSize) + c.headCount * t * t))
        try JobError.checkMemory(needed: weights + activations,
                                 detail: "weights \(formatBytes(weights)), activations \(formatBytes(activations))", remedy: "lower --seqlen")
    }
}
