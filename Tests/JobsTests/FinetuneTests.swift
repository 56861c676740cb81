import Evaluation
import Foundation
import Jobs
import Pruning
import TensorCore
import TensorIO
import Testing
import Training
import Transformer
import _TestSupport

/// `dlp finetune`: a resumed run is bit-identical to an uninterrupted one (tiny model, and the
/// command line interrupted by SIGINT on SmolLM2); the masked merge keeps every zero and the merged
/// model scores as the base model with the adapter; calibration windows are held out; bad input
/// names the option.
@Suite(.serialized) struct FinetuneTests {
    static let smol = TestAssets.model("smollm2-135m")
    static let c4 = TestAssets.data("c4.utf8")

    static func folder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("finetune-\(UUID().uuidString)")
    }

    /// A 2-block LLaMA-shaped model with seeded weights, half of each linear zero (a pruned model).
    static func tinyModel() throws -> TrainingModel<Float> {
        let c = ModelConfiguration(architecture: .llama, layerCount: 2, hiddenSize: 16, intermediateSize: 24, headCount: 4,
                                   keyValueHeadCount: 2, headDimension: 4, vocabularySize: 40, rmsNormEpsilon: 1e-5,
                                   ropeTheta: 100, contextLength: 32, tiedEmbeddings: true)
        var g = SeededGenerator(seed: 7)
        var infos = [TensorInfo](), values = [String: [Float]]()
        for role in TensorRole.allCases where role.isPresent(in: c) {
            for block in role.isPerBlock ? Array(0..<c.layerCount) : [0] {
                let info = TensorInfo(name: role.huggingFaceName(block: block), dtype: .f32, shape: role.shape(c))
                let uniform = g.uniform(count: info.elementCount)
                switch role {
                case .tokenEmbedding: values[info.name] = uniform
                case .attentionNorm, .feedForwardNorm, .outputNorm: values[info.name] = uniform.map { 1 + 0.3 * $0 }
                default: values[info.name] = uniform.map { abs($0) < 0.5 ? 0 : 0.5 * $0 }
                }
                infos.append(info)
            }
        }
        let checkpoint = try Checkpoint(url: URL(fileURLWithPath: "/tiny"), format: .safetensors, configuration: c,
                                        source: MemoryTensors(tensors: infos, values: values))
        return try TrainingModel(checkpoint: checkpoint, maxSequenceLength: 16)
    }

    static func windows(_ count: Int, length: Int, seed: UInt64) -> [[Int32]] {
        var g = SeededGenerator(seed: seed)
        return (0..<count).map { _ in (0..<length).map { _ in Int32(g.next() % 40) } }
    }

    /// Six steps straight, against three steps, a checkpoint written to disk and read back, and
    /// three more: parameters, moments, loss curve and held-out losses agree bit for bit. Ten
    /// windows read twelve times: the second epoch's order is part of the check. Dropout, masked
    /// updates, trained gains, weight decay, clipping and cosine decay are all on.
    @Test func resumedRunIsBitIdentical() throws {
        let model = try Self.tinyModel()
        let training = Self.windows(10, length: 12, seed: 1), heldOut = Self.windows(2, length: 12, seed: 2)
        let settings = FinetuneHyperparameters(
            lora: LoRAConfiguration(rank: 2, alpha: 4, dropout: 0.1, targets: [.query, .value, .down], masked: true, trainsNormGains: true),
            sequenceLength: 12, sequencesPerStep: 2, totalSteps: 6, learningRate: 1e-2, warmupSteps: 1, decay: .cosine,
            maxGradNorm: 0.5, adamW: .init(weightDecay: 0.01), seed: 5)
        func run(_ trainer: FinetuneTrainer, until last: Int) {
            if trainer.progress.step == 0 { trainer.recordHeldOutLoss() }
            while trainer.progress.step < last {
                trainer.step()
                if trainer.progress.step % 2 == 0 { trainer.recordHeldOutLoss() }
            }
        }
        let straight = FinetuneTrainer(model: model, training: training, heldOut: heldOut, settings: settings)
        run(straight, until: 6)

        let folder = Self.folder()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let first = FinetuneTrainer(model: model, training: training, heldOut: heldOut, settings: settings)
        run(first, until: 3)
        let data = FinetuneCorpus.Description(source: "t", path: "/t", sha256: "0", documents: 1, documentsExcluded: 0, streamTokens: 144,
                                              exclusion: "none", excludedSlots: [], excludedTokens: 0, sequenceLength: 12,
                                              trainingWindows: 10, trainingTokens: 120, heldOutOffsets: [0, 12], heldOutTokens: 24,
                                              unusedTokens: 0)
        let identity = FinetuneIdentity(modelSHA256: "m", data: data, hyperparameters: settings)
        let url = folder.appendingPathComponent(FinetuneCheckpoint.fileName)
        try first.checkpoint.write(to: url, identity: identity)
        let resumed = try FinetuneTrainer(model: model, training: training, heldOut: heldOut, settings: settings,
                                          resuming: try FinetuneCheckpoint.read(from: url, identity: identity))
        run(resumed, until: 6)

        #expect(straight.epochs > 1)
        #expect(resumed.parameters.values.map(\.bitPattern) == straight.parameters.values.map(\.bitPattern))
        #expect(resumed.optimizer.state.firstMoment.map(\.bitPattern) == straight.optimizer.state.firstMoment.map(\.bitPattern))
        #expect(resumed.optimizer.state.secondMoment.map(\.bitPattern) == straight.optimizer.state.secondMoment.map(\.bitPattern))
        #expect(resumed.progress.steps.map(\.loss.bitPattern) == straight.progress.steps.map(\.loss.bitPattern))
        #expect(resumed.progress.steps.map(\.gradientNorm.bitPattern) == straight.progress.steps.map(\.gradientNorm.bitPattern))
        #expect(resumed.progress.heldOut.map(\.step) == [0, 2, 4, 6])
        #expect(resumed.progress.heldOut.map(\.loss.bitPattern) == straight.progress.heldOut.map(\.loss.bitPattern))
        #expect(resumed.progress.resumedAt == [3])
        // The loss fell: the run trains.
        #expect(straight.progress.heldOut.last!.loss < straight.progress.heldOut.first!.loss)

        // A checkpoint of other settings is refused, naming what differs.
        var other = identity
        other.hyperparameters.seed = 6
        #expect { _ = try FinetuneCheckpoint.read(from: url, identity: other) } throws: { "\($0)".contains("hyperparameters.seed") }
    }

    /// Keeping the activations (`--keep-activations`) instead of recomputing them trains the same
    /// bits: parameters, losses and gradient norms after four steps with dropout and masked updates.
    @Test func keptActivationsTrainTheSameBits() throws {
        let model = try Self.tinyModel()
        let training = Self.windows(6, length: 12, seed: 3)
        let settings = FinetuneHyperparameters(
            lora: LoRAConfiguration(rank: 2, alpha: 4, dropout: 0.1, targets: [.query, .value, .gate], masked: true, trainsNormGains: true),
            sequenceLength: 12, sequencesPerStep: 2, totalSteps: 4, learningRate: 1e-2, warmupSteps: 1, decay: .linear,
            maxGradNorm: 0.5, adamW: .init(), seed: 9)
        let recomputing = FinetuneTrainer(model: model, training: training, heldOut: [], settings: settings)
        let keeping = FinetuneTrainer(model: model, training: training, heldOut: [], settings: settings)
        keeping.keepsActivations = true
        for _ in 0..<4 {
            recomputing.step()
            keeping.step()
        }
        #expect(keeping.parameters.values.map(\.bitPattern) == recomputing.parameters.values.map(\.bitPattern))
        #expect(keeping.progress.steps.map(\.loss.bitPattern) == recomputing.progress.steps.map(\.loss.bitPattern))
        #expect(keeping.progress.steps.map(\.gradientNorm.bitPattern) == recomputing.progress.steps.map(\.gradientNorm.bitPattern))
        #expect(recomputing.parameters.values != FinetuneTrainer(model: model, training: training, heldOut: [], settings: settings).parameters.values)
    }

    /// SmolLM2 pruned with 2 × 64 calibration tokens, then fine-tuned for 6 steps of 2 × 32 tokens:
    /// - the library run with --merge: the prune's 2 calibration slots are cut out of the training
    ///   text, every block linear keeps its zero count through the masked merge, the merged
    ///   model's perplexity equals the base model's with the adapter applied (`--adapter`);
    /// - `dlp finetune` interrupted by SIGINT after a saved step, then `--resume`d: the adapter
    ///   file is byte for byte the library run's, with the same loss curve.
    @Test(.enabled(if: TestAssets.has(smol, c4)))
    func realModelEndToEnd() throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let executable = TestAssets.dlpExecutable
        try #require(FileManager.default.isExecutableFile(atPath: executable.path), "no dlp executable at \(executable.path)")
        let pruned = folder.appendingPathComponent("pruned")
        let prune = PruneJob(model: Self.smol.path, method: .wanda, allocation: try Allocation(name: "uniform", parameters: [:]), target: 0.5,
                             calibration: CalibrationSettings(source: CalibrationSource(name: "c4", path: Self.c4.path), sampling: .stream,
                                                              samples: 2, sequenceLength: 64, seed: 0),
                             threads: 2, reuseCachedAllocation: false, exports: .init(formats: [.gguf]), output: pruned.path)
        try prune.validate()
        try prune.run()

        let data = CalibrationSource(name: "c4", path: Self.c4.path)
        let library = folder.appendingPathComponent("library")
        let job = FinetuneJob(model: pruned.path, output: library.path, data: data, tokens: 6 * 64, sequenceLength: 32, batchTokens: 64,
                              learningRate: 1e-3, warmupSteps: 1, heldOutWindows: 2, heldOutInterval: 2, saveInterval: 1,
                              merge: .init(formats: [.gguf]), threads: 2)
        try job.validate()
        let manifest = try job.run()
        #expect(manifest.steps.count == 6 && manifest.heldOut.map(\.step) == [0, 2, 4, 6])
        #expect(manifest.data.excludedSlots.count == 2 && manifest.data.excludedTokens == 128)
        #expect(manifest.data.exclusion.contains("stream-sampled calibration windows"))
        #expect(manifest.prune?.calibration.samples == 2)
        #expect(manifest.zeros.count == 30 * 7 && manifest.mergeKeepsZeros)
        #expect(manifest.zeros.filter { $0.role == "query" }.allSatisfy { $0.zerosBefore > 0 })
        #expect(manifest.outputs.map(\.file).contains("adapter/adapter_model.safetensors"))
        #expect(!FileManager.default.fileExists(atPath: job.partialURL.path), "the partial state outlived a finished run")

        // The merged model scores as the base model with the adapter.
        let wikitext = TestAssets.wikitext2Test
        if FileManager.default.fileExists(atPath: wikitext.path) {
            let dataset = PerplexityDataset.wikitext2(wikitext)
            let merged = try PerplexityJob(model: library.path, dataset: dataset, sequenceLength: 64, maxWindows: 2, threads: 2).run()
            let applied = try PerplexityJob(model: pruned.path, dataset: dataset, sequenceLength: 64, maxWindows: 2, threads: 2,
                                            adapter: AdapterSettings(path: library.appendingPathComponent("adapter").path)).run()
            let base = try PerplexityJob(model: pruned.path, dataset: dataset, sequenceLength: 64, maxWindows: 2, threads: 2).run()
            #expect(abs(merged.meanNegativeLogLikelihood - applied.meanNegativeLogLikelihood) < 1e-6)
            #expect(abs(merged.meanNegativeLogLikelihood - base.meanNegativeLogLikelihood) > 1e-6, "the adapter changed nothing")
        }

        // The command line, interrupted after a saved step and resumed.
        let cli = folder.appendingPathComponent("cli")
        let arguments = ["finetune", pruned.path, "--output", cli.path, "--data", Self.c4.path, "--tokens", "384", "--seqlen", "32",
                         "--batch-tokens", "64", "--lr", "1e-3", "--warmup", "1", "--held-out", "2", "--eval-every", "2",
                         "--save-every", "1", "--threads", "2"]
        let state = folder.appendingPathComponent("cli.partial/\(FinetuneCheckpoint.fileName)")
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(600)
        while !FileManager.default.fileExists(atPath: state.path), process.isRunning, Date() < deadline { usleep(20_000) }
        kill(process.processIdentifier, SIGINT)
        let stderr = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130, "\(stderr)")
        #expect(stderr.contains("saved the state after step") && stderr.contains("--resume"), "\(stderr)")
        #expect(FileManager.default.fileExists(atPath: state.path) && !FileManager.default.fileExists(atPath: cli.path))

        let (status, text) = runCapturingStandardError(executable.path, arguments + ["--resume"])
        #expect(status == 0, "\(text)")
        #expect(text.contains("resuming at step"), "\(text)")
        let ours = try Data(contentsOf: cli.appendingPathComponent("adapter/adapter_model.safetensors"))
        let theirs = try Data(contentsOf: library.appendingPathComponent("adapter/adapter_model.safetensors"))
        #expect(ours == theirs, "the resumed adapter differs from the uninterrupted run's")
        let resumed = try JSONDecoder().decode(FinetuneManifest.self, from: try Data(contentsOf: cli.appendingPathComponent("manifest.json")))
        #expect(resumed.resumedAt.count == 1)
        #expect(resumed.steps.map(\.loss) == manifest.steps.map(\.loss))
        #expect(resumed.heldOut.map(\.loss) == manifest.heldOut.map(\.loss))
        #expect(!FileManager.default.fileExists(atPath: state.path))
    }

    /// Bad input is a usage error (exit 64) that names the option and the valid values.
    @Test func commandLineNamesBadInput() throws {
        let executable = TestAssets.dlpExecutable
        try #require(FileManager.default.isExecutableFile(atPath: executable.path), "no dlp executable at \(executable.path)")
        let folder = Self.folder()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("out").path
        let data = folder.appendingPathComponent("docs.txt")
        try Data("one document\nanother document\n".utf8).write(to: data)
        let base = ["finetune", "m", "--output", out, "--data", data.path]
        for (arguments, message) in [
            (base + ["--targets", "q,x"], "--targets q,x: unknown target 'x'; valid: q, k, v, o, gate, up, down"),
            (base + ["--schedule", "exp"], "--schedule exp: not a schedule; valid: linear, cosine"),
            (base + ["--masked", "--no-masked"], "--masked and --no-masked contradict each other"),
            (base + ["--seqlen", "64", "--batch-tokens", "100"], "batch-tokens: 100 is not a positive multiple of --seqlen 64"),
            (base + ["--tokens", "1024", "--seqlen", "64", "--batch-tokens", "512"], "warmup: 5 steps: expected 0…2"),
            (base + ["--dropout", "1"], "--dropout 1: expected a number in [0, 1)"),
            (base + ["--rank", "0"], "--rank 0: expected a positive integer"),
            (base + ["--lr", "-1"], "--lr -1: expected a positive number"),
            (base + ["--resume"], "resume: there is no unfinished run to resume"),
            (base + ["--formats", "gguf"], "--formats applies only with --merge"),
            (base + ["--merge", "--gguf-dtype", "q4_1"], "q4_1 does not keep pruned weights at exactly zero"),
            (["finetune", "m", "--output", out, "--data", folder.appendingPathComponent("none").path], "data: cannot read"),
            (["finetune", "m"], "--output DIR is required"),
            (["perplexity", "m", "--dataset", "text:\(data.path)", "--adapter", folder.path], "adapter: \(folder.path) holds no readable adapter_config.json"),
            (["perplexity", "m", "--dataset", "text:\(data.path)", "--adapter-mask", "on"], "--adapter-mask applies only with --adapter DIR"),
            (["eval", "m", "--adapter", folder.path, "--adapter-mask", "maybe"], "'maybe' is not valid; valid: auto, on, off"),
        ] {
            let (status, text) = runCapturingStandardError(executable.path, arguments)
            #expect(status == 64 && text.contains(message), "\(arguments): \(status) \(text)")
        }
    }
}
