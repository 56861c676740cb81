import Foundation
import Jobs
import Kernels
import Pruning
import TensorCore
import TensorIO
import Testing
import Tokenization
import Transformer
import _TestSupport

/// The streaming path that prunes 7B/8B-shaped models (README, "7B and 8B on this machine"), on
/// small random GGUFs of the same layout written by ``SyntheticLlamaGGUF``: LLaMA-2's (multi-head
/// attention) and LLaMA-3's (grouped-query attention, Llama 3.1 rotary scaling in
/// `rope_freqs.weight`), Q4_0 linears and embedding, Q6_K head. `dlp inspect` reads them; the
/// prune job (Wanda + DLP and SparseGPT + DLP, calibration from a small text) prunes every block
/// to its ratio, records where each block's time went and the memory estimate, and writes a
/// Q4_0 model that opens and runs; the estimate is within 15% of the peak resident memory of a
/// `dlp prune` process, as on the full-size files.
@Suite(.serialized) struct StreamingLayoutTests {
    enum Layout: String, CaseIterable, CustomTestStringConvertible {
        case llama2, llama3
        var model: SyntheticLlamaGGUF { self == .llama2 ? .llama2Style() : .llama3Style() }
        var testDescription: String { rawValue }
    }

    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("streaming-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// About 9,000 characters of plain English, one document per line.
    static let text: String = {
        let subjects = ["The model", "A pruned network", "The calibration set", "Each block", "The allocation", "This layer"]
        let verbs = ["keeps", "removes", "scores", "measures", "streams", "writes"]
        let objects = ["the weights that matter", "most of its inputs", "one block at a time", "the median of its scores",
                       "a ratio for every block", "the file to disk"]
        return (0..<36).map { line in
            (0..<6).map { i in
                let k = line * 6 + i
                return "\(subjects[k % 6]) \(verbs[(k / 6) % 6]) \(objects[(k / 36 + k) % 6]) in step \(k)."
            }.joined(separator: " ")
        }.joined(separator: "\n")
    }()

    static func writeText(in folder: URL) throws -> URL {
        let url = folder.appendingPathComponent("calibration.txt")
        try Data(text.utf8).write(to: url)
        return url
    }

    static func calibration(_ text: URL, samples: Int = 4, tokens: Int = 64) -> CalibrationSettings {
        CalibrationSettings(source: CalibrationSource(name: text.lastPathComponent, path: text.path), sampling: .stream,
                            samples: samples, sequenceLength: tokens, seed: 0)
    }

    /// The file opens with the layout's configuration and tensor types; the stored rotary factors
    /// rescale frequencies as Llama 3.1's `rope_scaling`; the byte-level vocabulary tokenizes text
    /// into ids below the vocabulary size and back; `dlp inspect --json` reports the same summary.
    @Test(arguments: Layout.allCases)
    func inspectReadsTheLayout(_ layout: Layout) throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let spec = layout.model, url = folder.appendingPathComponent("model.gguf")
        try spec.write(to: url)
        let checkpoint = try Checkpoint.open(url.path)
        let c = checkpoint.configuration
        #expect(c.architecture == .llama && c.layerCount == spec.layerCount && c.hiddenSize == spec.hiddenSize)
        #expect(c.intermediateSize == spec.intermediateSize && c.headCount == spec.headCount)
        #expect(c.keyValueHeadCount == spec.keyValueHeadCount && c.vocabularySize == spec.vocabularySize && !c.tiedEmbeddings)
        #expect(checkpoint.rotaryConvention == .interleaved)
        let file = try #require(checkpoint.source as? GGUFFile)
        for info in file.tensors {
            let expected: DType = info.name == "output.weight" ? .q6_K : info.shape.count == 1 ? .f32 : .q4_0
            #expect(info.dtype == expected, "\(info.name)")
        }
        let unscaled = (0..<(c.headDimension / 2)).map { 1 / pow(Double(c.ropeTheta), Double(2 * $0) / Double(c.headDimension)) }
        switch layout {
        case .llama2:
            #expect(c.ropeScaling == .none)
        case .llama3:
            guard case .frequencyFactors = c.ropeScaling else { Issue.record("no rope_freqs scaling: \(c.ropeScaling)"); return }
            let stored = c.ropeScaling.apply(to: unscaled), reference = SyntheticLlamaGGUF.llama3Scaling.apply(to: unscaled)
            for (s, r) in zip(stored, reference) { #expect(abs(s - r) <= 1e-6 * r, "\(s) vs \(r)") }
            #expect(Set(spec.ropeFrequencyFactors()).count > 2, "the factors should span the smooth range too")
        }
        let tokenizer = try checkpoint.tokenizer()
        let ids = tokenizer.encode(Self.text, addSpecial: true)
        #expect(ids.allSatisfy { $0 >= 0 && Int($0) < c.vocabularySize })
        #expect(ids.count < Self.text.utf8.count, "the merges should join some bytes")
        #expect(tokenizer.decode(ids) == Self.text)

        let (status, output) = runCapturingStandardOutput(TestAssets.dlpExecutable.path,
                                                          ["inspect", url.path, "--samples", "4", "--seqlen", "64", "--json"])
        #expect(status == 0)
        let summary = try JSONDecoder().decode(ModelSummary.self, from: output)
        let local = ModelSummary(checkpoint, calibrationSamples: 4, calibrationSequenceLength: 64)
        #expect(summary.parameterCount == local.parameterCount && summary.prunableParameterCount == local.prunableParameterCount)
        #expect(summary.pruningMemory == local.pruningMemory && summary.tensorTypes == ["Q4_0": 7 * spec.layerCount + 1, "F32": 2 * spec.layerCount + (layout == .llama3 ? 2 : 1), "Q6_K": 1])
        #expect(summary.ropeScaling == (layout == .llama3 ? c.ropeScaling : nil))
    }

    /// Wanda + DLP and SparseGPT + DLP through the prune job, exported as Q4_0: every block is
    /// pruned to its ratio (ratios average the target and span 2α, rising with the weights' scale
    /// over depth), each block's time is recorded for both passes, the manifest carries the
    /// job's memory estimate (Hessians for SparseGPT only, no LM head), and the written model
    /// opens with the input's configuration, keeps every pruned zero and runs.
    @Test(arguments: Layout.allCases, [PruningMethod.wanda, .sparsegpt])
    func pruneStreamsEveryBlock(_ layout: Layout, _ method: PruningMethod) throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let spec = layout.model, url = folder.appendingPathComponent("model.gguf")
        try spec.write(to: url)
        let text = try Self.writeText(in: folder), output = folder.appendingPathComponent("out")
        let job = PruneJob(model: url.path, method: method, allocation: try .named("dlp"), target: 0.7,
                           calibration: Self.calibration(text), threads: 2, reuseCachedAllocation: false,
                           exports: .init(formats: [.gguf], ggufType: .q4_0), output: output.path)
        try job.validate()
        let manifest = try job.run()
        let c = try Checkpoint.open(url.path).configuration

        #expect(manifest.blocks.count == spec.layerCount)
        let ratios = manifest.blocks.map(\.requestedRatio)
        #expect(abs(ratios.reduce(0, +) / Double(ratios.count) - 0.7) < 1e-9)
        #expect(abs((ratios.max()! - ratios.min()!) - 0.3) < 1e-9)
        #expect(ratios.last! > ratios.first!, "\(ratios)")
        // Wanda rounds ⌊in·R⌋ per row, SparseGPT ⌊rows·128·R⌋ per column block: within one weight per 256-wide row.
        for block in manifest.blocks {
            #expect(abs(block.measuredSparsity - block.requestedRatio) <= 1.0 / 256, "block \(block.block)")
            let allocation = try #require(block.allocationSeconds), pruning = try #require(block.pruningSeconds)
            #expect(allocation.forward > 0 && allocation.scoring > 0 && allocation.store == 0)
            #expect(pruning.forward > 0 && pruning.observers > 0 && pruning.scoring > 0 && pruning.store > 0)
        }
        let pruningTotal = manifest.blocks.compactMap(\.pruningSeconds).reduce(0) { $0 + $1.total }
        #expect(pruningTotal <= (manifest.timings["pruning pass"] ?? 0) + 1e-3)
        let estimate = try #require(manifest.memoryEstimate)
        #expect(estimate == MemoryEstimate(configuration: c, samples: 4, sequenceLength: 64,
                                           mappedModelBytes: ModelSummary.diskSize(url), exportsSafetensors: false,
                                           hessians: method == .sparsegpt, scores: method != .sparsegpt, decodesHead: false,
                                           embeddingRows: true))
        // No logits: neither the head nor the embedding table is decoded (rows come from the mapping).
        #expect(estimate.head == 0 && estimate.embedding == 0 && (estimate.hessians > 0) == (method == .sparsegpt))

        let pruned = try Checkpoint.open(output.appendingPathComponent("model.gguf").path)
        #expect(pruned.configuration == c)
        let stored = try StoredSparsity(pruned)
        let recorded = manifest.blocks.flatMap { $0.matrices.map(\.zeros) }
        #expect(stored.linears.map(\.dtype).allSatisfy { $0 == "Q4_0" })
        for (s, zeros) in zip(stored.linears, recorded) { #expect(s.zeros >= zeros, "\(s.name)") }
        #expect(stored.overall - manifest.overallSparsity < 0.05)

        let tokens = Array(try pruned.tokenizer().encode(Self.text, addSpecial: true).prefix(32))
        let model = try LanguageModel(checkpoint: pruned, maxSequenceLength: tokens.count)
        var hidden = [Float](repeating: 0, count: tokens.count * c.hiddenSize)
        let losses = try hidden.withUnsafeMutableBufferPointer { h -> [Double] in
            try model.embed(tokens, into: h.baseAddress!)
            let workspace = BlockWorkspace(configuration: c, capacity: tokens.count, threads: .single)
            for l in 0..<c.layerCount { try model.layer(l).forward(h.baseAddress!, tokens: tokens.count, workspace: workspace) }
            return model.negativeLogLikelihoods(h.baseAddress!, tokens: tokens.count, targets: Array(tokens.dropFirst()) + [-1],
                                                threads: .single)
        }
        #expect(losses.dropLast().allSatisfy { $0.isFinite && $0 > 0 })
    }

    /// The weight store gives back exactly the linears it was given (written matrix by matrix,
    /// read straight into new matrices) with the checkpoint's norms, and refuses a cut file.
    @Test func weightStoreRoundTrip() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("model.gguf")
        try SyntheticLlamaGGUF.llama3Style(blocks: 2).write(to: url)
        let checkpoint = try Checkpoint.open(url.path)
        let store = try PrunedWeightStore(directory: folder.appendingPathComponent("store"), checkpoint: checkpoint)
        var weights = try checkpoint.block(1)
        var generator = SeededGenerator(seed: 3)
        for role in TensorRole.linears {
            let m = weights[linear: role]
            weights[linear: role] = Matrix(rows: m.rows, columns: m.columns, storage: generator.uniform(count: m.count))
        }
        try store.save(weights, block: 1)
        let loaded = try store.load(1)
        for role in TensorRole.linears {
            #expect(loaded[linear: role].storage.map(\.bitPattern) == weights[linear: role].storage.map(\.bitPattern), "\(role)")
        }
        #expect(loaded.attentionNorm == (try checkpoint.tensor(.attentionNorm, block: 1)))
        #expect(loaded.feedForwardNorm == (try checkpoint.tensor(.feedForwardNorm, block: 1)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.directory.path) == ["block-1.f32"])
        let file = store.directory.appendingPathComponent("block-1.f32")
        let handle = try FileHandle(forWritingTo: file)
        try handle.truncate(atOffset: 1000)
        try handle.close()
        #expect(throws: (any Error).self) { try store.load(1) }
        #expect(throws: (any Error).self) { try store.load(0) }
    }

    /// `dlp prune` as a process on a wider model of the LLaMA-3 layout (hidden 768, FFN 2560, 2
    /// blocks), for Wanda (scores, no Hessians) and SparseGPT (Hessians): the memory estimate in
    /// its manifest is at least 95% of the process's peak resident set and at most 30% above it.
    /// The fixed 48 MiB runtime allowance (sized for SmolLM2's 49k-token vocabulary) is a third of
    /// this model's total, so the estimate runs high here (measured: +22% Wanda, +8% SparseGPT);
    /// on the 7B/8B-shaped files it is within 15% (README). A copy of one block (the weight
    /// store's write buffer) or of the down projection's Hessian puts the peak above the estimate.
    @Test(arguments: [PruningMethod.wanda, .sparsegpt])
    func memoryEstimateMatchesThePeakOfAPruneProcess(_ method: PruningMethod) throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("model.gguf"), output = folder.appendingPathComponent("out")
        try SyntheticLlamaGGUF.llama3Style(blocks: 2, hiddenSize: 768, intermediateSize: 2560, vocabularySize: 2048).write(to: url)
        let text = try Self.writeText(in: folder)
        let (status, stderr) = runCapturingStandardError(TestAssets.dlpExecutable.path, [
            "prune", url.path, "--method", method.rawValue, "--allocation", "dlp", "--sparsity", "0.7",
            "--samples", "8", "--seqlen", "64", "--calibration", text.path, "--threads", "2", "--no-cache",
            "--formats", "gguf", "--gguf-dtype", "q4_0", "--output", output.path])
        #expect(status == 0, "\(stderr)")
        let manifest = try JSONDecoder().decode(PruningManifest.self, from: Data(contentsOf: output.appendingPathComponent("manifest.json")))
        let estimate = Double(try #require(manifest.memoryEstimate).total), peak = Double(manifest.peakResidentBytes)
        #expect(estimate >= 0.95 * peak && estimate <= 1.3 * peak, "estimate \(estimate / 1_048_576) MiB, peak \(peak / 1_048_576) MiB")
    }
}
