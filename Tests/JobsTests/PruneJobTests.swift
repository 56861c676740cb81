import Foundation
import Inference
import Jobs
import Pruning
import Sparse
import TensorCore
import TensorIO
import Testing
import Transformer
import _TestSupport

/// The prune job from the library equals the `dlp prune` command line: the same manifest and
/// bit-identical exported weights. Validation names the setting; jobs survive JSON unchanged.
@Suite(.serialized) struct PruneJobTests {
    static let smol = TestAssets.model("smollm2-135m")
    static let c4 = TestAssets.data("c4.utf8")

    static func folder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("prune-job-\(UUID().uuidString)")
    }

    static func calibration(samples: Int = 2, tokens: Int = 64) -> CalibrationSettings {
        CalibrationSettings(source: CalibrationSource(name: "c4", path: c4.path), sampling: .stream, samples: samples,
                            sequenceLength: tokens, seed: 0)
    }

    @Test(.enabled(if: TestAssets.has(smol, c4)))
    func jobGivesTheManifestAndWeightsOfTheCommandLine() throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let executable = TestAssets.dlpExecutable
        try #require(FileManager.default.isExecutableFile(atPath: executable.path), "no dlp executable at \(executable.path)")
        let cli = folder.appendingPathComponent("cli"), library = folder.appendingPathComponent("library")
        let (status, _) = runCapturingStandardError(executable.path, [
            "prune", Self.smol.path, "--method", "wanda", "--allocation", "dlp", "--alpha", "0.1",
            "--samples", "2", "--seqlen", "64", "--calibration", Self.c4.path, "--threads", "2",
            "--no-cache", "--formats", "gguf", "--output", cli.path])
        #expect(status == 0)

        let job = PruneJob(model: Self.smol.path, method: .wanda,
                           allocation: try Allocation(name: "dlp", parameters: ["alpha": "0.1"]), target: 0.7,
                           calibration: CalibrationSettings(source: CalibrationSource(name: Self.c4.lastPathComponent, path: Self.c4.path),
                                                            sampling: .stream, samples: 2, sequenceLength: 64, seed: 0),
                           threads: 2, reuseCachedAllocation: false, exports: .init(formats: [.gguf]), output: library.path)
        try job.validate()
        let ours = try job.run()
        let theirs = try JSONDecoder().decode(PruningManifest.self, from: try Data(contentsOf: cli.appendingPathComponent("manifest.json")))
        #expect(ours.settings == theirs.settings)
        #expect(ours.calibration.settings == theirs.calibration.settings)
        #expect(ours.calibration.windowsSHA256 == theirs.calibration.windowsSHA256)
        #expect(ours.model.sha256 == theirs.model.sha256 && ours.model.prunableParameters == theirs.model.prunableParameters)
        #expect(ours.blocks.map(\.requestedRatio) == theirs.blocks.map(\.requestedRatio))
        #expect(ours.blocks.map(\.measuredSparsity) == theirs.blocks.map(\.measuredSparsity))
        #expect(ours.blocks.map(\.statistic) == theirs.blocks.map(\.statistic))
        #expect(ours.overallSparsity == theirs.overallSparsity)
        #expect(ours.outputs.map(\.file) == ["model.gguf"] && theirs.outputs.map(\.file) == ["model.gguf"])
        // The GGUF holds the weights and the same provenance: byte for byte the same file.
        let a = try Data(contentsOf: cli.appendingPathComponent("model.gguf"))
        let b = try Data(contentsOf: library.appendingPathComponent("model.gguf"))
        #expect(a.count == b.count && a == b, "model.gguf differs between dlp prune and PruneJob")
        #expect(FileManager.default.fileExists(atPath: library.appendingPathComponent("report.md").path))
        // Nothing of the staging directory is left beside the output.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    /// `--formats safetensors,sparse` on the real model (2 × 64 calibration tokens): `sparse/` holds
    /// the pruned weights of `hf/` rounded to bf16, bit for bit, and a prune output with only
    /// those folders opens as its `hf/`; the manifest records the value type. `ConvertJob` then
    /// rewrites `sparse/` in f32 (exactly `hf/`) and refuses a directory that is no prune output;
    /// `dlp job` runs the same conversion from a job file and prints a one-line summary.
    /// Sizes at 70%: the block linears' tensors are at most 0.38× their dense bf16 bytes.
    @Test(.enabled(if: TestAssets.has(smol, c4)))
    func sparseExportAndConvert() throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("out")
        let job = PruneJob(model: Self.smol.path, method: .wanda, allocation: try .named("dlp"), target: 0.7,
                           calibration: Self.calibration(), threads: 2, reuseCachedAllocation: false,
                           exports: .init(formats: [.safetensors, .sparse]), output: output.path)
        try job.validate()
        let manifest = try job.run()
        #expect(manifest.sparseValueType == .bf16)
        #expect(manifest.outputs.map(\.file) == ["hf/config.json", "hf/model.safetensors", "hf/tokenizer.json", "sparse/config.json",
                                                 "sparse/model.safetensors", "sparse/tokenizer.json"])
        let hf = try Checkpoint.open(output.appendingPathComponent("hf").path)
        let sparse = try Checkpoint.open(output.appendingPathComponent("sparse").path)
        #expect(!hf.isSparse && sparse.isSparse)
        #expect(try sparse.tokenizer().encode("Hello world", addSpecial: true) == (try hf.tokenizer().encode("Hello world", addSpecial: true)))
        let c = hf.configuration
        var sparseBytes = 0, denseBytes = 0
        for block in 0..<c.layerCount {
            for (index, role) in TensorRole.linears.enumerated() {
                let weights = try hf.tensor(role, block: block)
                let matrix = try #require(try sparse.sparseLinear(role, block: block))
                let shape = role.shape(c)
                #expect(matrix == SparseMatrix(Matrix(rows: shape[0], columns: shape[1], storage: weights), valueType: .bf16),
                        "block \(block) \(role)")
                let recorded = manifest.blocks[block].matrices[index]
                #expect(matrix.rows * matrix.columns - matrix.nonZeroCount == recorded.zeros, "block \(block) \(role)")
                sparseBytes += matrix.storedBytes + 16   // + X.shape, two int64
                denseBytes += weights.count * 2
                if block == 0 || block == c.layerCount - 1 {
                    #expect(try sparse.tensor(role, block: block).map(\.bitPattern) == weights.map { SparseValueType.bf16.rounded($0).bitPattern })
                }
            }
        }
        let ratio = Double(sparseBytes) / Double(denseBytes)
        #expect(ratio <= 0.38, "block linears: \(sparseBytes) bytes sparse, \(denseBytes) dense bf16 (\(ratio)×)")

        // Add sparse/ again in f32 to the existing output: hf/'s weights exactly.
        #expect(throws: JobError.self) { try ConvertJob(directory: output.path).validate() }   // sparse/ exists
        let convert = ConvertJob(directory: output.path, formats: [.sparse], sparseType: .f32, replaceExisting: true)
        try convert.validate()
        let converted = try #require(try convert.run())
        #expect(converted.sparseValueType == .f32 && converted.blocks.map(\.measuredSparsity) == manifest.blocks.map(\.measuredSparsity))
        let onDisk = try JSONDecoder().decode(PruningManifest.self, from: Data(contentsOf: output.appendingPathComponent("manifest.json")))
        #expect(onDisk.sparseValueType == .f32 && onDisk.outputs.map(\.file) == converted.outputs.map(\.file))
        let exact = try Checkpoint.open(output.appendingPathComponent("sparse").path)
        for role in TensorRole.linears {
            #expect(try exact.tensor(role, block: 7).map(\.bitPattern) == (try hf.tensor(role, block: 7)).map(\.bitPattern), "\(role)")
        }
        #expect(try exact.tensor(.tokenEmbedding).map(\.bitPattern) == (try hf.tensor(.tokenEmbedding)).map(\.bitPattern))
        let config = try SafetensorsCheckpoint(directory: output.appendingPathComponent("sparse")).configJSON
        #expect(config["quantization_config"]?["sparsity_config"]?["global_sparsity"]?.doubleValue ?? 0 > 0.5)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: output.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "\(leftovers)")

        // The same conversion as a job file, run by `dlp job` without --result (as `dlp experiment`
        // runs it): one line saying what was written, not the manifest.
        let executable = TestAssets.dlpExecutable
        if FileManager.default.isExecutableFile(atPath: executable.path) {
            let file = folder.appendingPathComponent("convert.json")
            try Job.convert(convert).write(to: file)
            let (status, stdout) = runCapturingStandardOutput(executable.path, ["job", file.path])
            let text = String(decoding: stdout, as: UTF8.self)
            #expect(status == 0 && text.hasPrefix("converted \(output.path) → ") && text.contains("sparse/ (") && !text.contains("{"), "\(text)")
        }

        // A prune output with only sparse/ opens as it.
        try FileManager.default.removeItem(at: output.appendingPathComponent("hf"))
        #expect(try Checkpoint.open(output.path).isSparse)
        // Not a prune output: refused before anything is written.
        do {
            try ConvertJob(directory: folder.path).validate()
            Issue.record("a directory without manifest.json was accepted")
        } catch let error as JobError {
            #expect("\(error)".contains("not a dlp prune output"), "\(error)")
        }
        #expect(throws: JobError.self) { try ConvertJob(directory: output.path, formats: [.gguf]).validate() }
    }

    /// `--gguf-dtype q4_0` and `q8_0` on the real model (2 × 64 calibration tokens, uniform 50%):
    /// every pruned linear is stored in the asked type, every weight that is 0 in the F32 export
    /// of the same job decodes to exactly 0.0, and the only other zeros are kept weights smaller
    /// than half a quantization step (few in Q8_0). Other tensors keep the input's type. The
    /// manifest records the type; `StoredSparsity` recovers the manifest's zeros from the F32 file.
    @Test(.enabled(if: TestAssets.has(smol, c4)))
    func quantizedGGUFKeepsTheMask() throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        func prune(_ type: DType) throws -> (PruningManifest, GGUFFile) {
            let output = folder.appendingPathComponent(type.rawValue)
            let job = PruneJob(model: Self.smol.path, method: .wanda, allocation: try .named("uniform"), target: 0.5,
                               calibration: Self.calibration(), threads: 2, reuseCachedAllocation: false,
                               exports: .init(formats: [.gguf], ggufType: type), output: output.path)
            try job.validate()
            let manifest = try job.run()
            return (manifest, try GGUFFile(url: output.appendingPathComponent("model.gguf")))
        }
        let input = try GGUFFile(url: Self.smol)
        let (manifest32, f32) = try prune(.f32)
        let checkpoint = try Checkpoint.open(f32.url.path)
        let stored = try StoredSparsity(checkpoint)
        #expect(stored.linears.map(\.zeros) == manifest32.blocks.flatMap { $0.matrices.map(\.zeros) })
        #expect(abs(stored.overall - manifest32.overallSparsity) < 1e-12)
        let linearNames = (0..<checkpoint.configuration.layerCount).flatMap { b in TensorRole.linears.map { $0.ggufName(block: b) } }
        for type in [DType.q4_0, .q8_0] {
            let (manifest, file) = try prune(type)
            #expect(manifest.ggufLinears == PruningManifest.GGUFLinears(type: type, fallbacks: [:]))
            #expect(manifest.blocks.map(\.measuredSparsity) == manifest32.blocks.map(\.measuredSparsity))
            var kept = 0, roundedToZero = 0
            for name in linearNames {
                #expect(try file.tensorInfo(name).dtype == type)
                let quantized = try file.floats(name), reference = try f32.floats(name)
                #expect(quantized.count == reference.count)
                var lost = 0
                for (q, r) in zip(quantized, reference) {
                    if r == 0 { if q != 0 { lost += 1 } } else {
                        kept += 1
                        if q == 0 { roundedToZero += 1 }
                    }
                }
                #expect(lost == 0, "\(type) \(name): \(lost) pruned weights decode to non-zero")
            }
            let extra = Double(roundedToZero) / Double(kept)
            #expect(extra < (type == .q8_0 ? 0.002 : 0.02), "\(type): \(extra) of the kept weights round to 0")
            for info in file.tensors where !linearNames.contains(info.name) {
                #expect(info.dtype == (try input.tensorInfo(info.name).dtype), "\(info.name)")
            }
            let quantizedStored = try StoredSparsity(try Checkpoint.open(file.url.path))
            #expect(quantizedStored.overall >= manifest.overallSparsity && quantizedStored.overall - manifest.overallSparsity < 0.1)

            // `dlp convert F32_OUTPUT --formats gguf --gguf-dtype T --output DIR` writes the same
            // linears byte for byte, without pruning again; the new directory's manifest says so.
            let converted = folder.appendingPathComponent("convert-\(type.rawValue)")
            let convert = ConvertJob(directory: f32.url.deletingLastPathComponent().path, formats: [.gguf], ggufType: type,
                                     output: converted.path)
            try convert.validate()
            let convertedManifest = try #require(try convert.run())
            #expect(convertedManifest.ggufLinears == PruningManifest.GGUFLinears(type: type, fallbacks: [:]))
            #expect(convertedManifest.outputs.map(\.file) == ["model.gguf"])
            #expect(convertedManifest.blocks.map(\.measuredSparsity) == manifest32.blocks.map(\.measuredSparsity))
            let convertedFile = try GGUFFile(url: converted.appendingPathComponent("model.gguf"))
            for name in linearNames {
                #expect(try convertedFile.tensorInfo(name).dtype == type)
                #expect(Array(try convertedFile.rawBytes(name)) == Array(try file.rawBytes(name)), "\(type) \(name)")
            }
            #expect(convertedFile.tensors.map(\.name) == file.tensors.map(\.name))
            #expect(FileManager.default.fileExists(atPath: converted.appendingPathComponent("report.md").path))
            // The source output is untouched; a second convert to the same place needs --force.
            #expect(try GGUFFile(url: f32.url).tensorInfo(linearNames[0]).dtype == .f32)
            #expect(throws: JobError.self) { try convert.validate() }

            // `--sparse-dtype q4_0|q8_0`: sparse/ holds the same blocks as the GGUF (q/k rows in
            // Hugging Face's order), and the decoder holds them as stored.
            let sparseOutput = folder.appendingPathComponent("sparse-\(type.rawValue)")
            let quantizedType = try #require(QuantizedType(rawValue: type.rawValue.lowercased()))
            let sparseJob = ConvertJob(directory: f32.url.deletingLastPathComponent().path, formats: [.sparse],
                                       sparseType: WeightType(quantizedType), output: sparseOutput.path)
            try sparseJob.validate()
            #expect(try sparseJob.run()?.sparseValueType == WeightType(quantizedType))
            let sparse = try Checkpoint.open(sparseOutput.appendingPathComponent("sparse").path)
            let source = try #require(sparse.source as? SparseBitmaskSource)
            let c = sparse.configuration
            for block in [0, c.layerCount - 1] {
                for role in TensorRole.linears {
                    let gguf = Array(try file.rawBytes(role.ggufName(block: block)))
                    let stored = try #require(try source.quantizedBlocks(role.huggingFaceName(block: block)))
                    var expected = gguf
                    if role == .query || role == .key {
                        // Whole rows of blocks move: GGUF row 2i of a head is Hugging Face row i.
                        let heads = role == .query ? c.headCount : c.keyValueHeadCount
                        let rowBytes = gguf.count / stored.rows
                        let order = QKRowPermutation.toHuggingFace((0..<stored.rows).map(Float.init), heads: heads, columns: 1).map { Int($0) }
                        expected = order.flatMap { gguf[$0 * rowBytes..<($0 + 1) * rowBytes] }
                    }
                    #expect(stored.blocks == expected, "\(type) block \(block) \(role)")
                }
            }
            let decoder = try IncrementalDecoder.load(sparse, settings: DecodeSettings(valueType: WeightType(quantizedType), sparse: .on), capacity: 8)
            #expect(decoder.sparseLinearCount == (c.layerCount * 7, c.layerCount * 7))
        }
        // A dense model re-exported: every linear in Q8_0, the rest as in the input, no manifest.
        let dense = folder.appendingPathComponent("dense-q8_0")
        let denseJob = ConvertJob(directory: Self.smol.path, formats: [.gguf], ggufType: .q8_0, output: dense.path)
        try denseJob.validate()
        #expect(try denseJob.run() == nil)
        let denseFile = try GGUFFile(url: dense.appendingPathComponent("model.gguf"))
        for name in linearNames { #expect(try denseFile.tensorInfo(name).dtype == .q8_0) }
        #expect(!FileManager.default.fileExists(atPath: dense.appendingPathComponent("manifest.json").path))
        // Without --output a model that is no prune output is refused, naming the fix.
        do {
            try ConvertJob(directory: Self.smol.path, formats: [.gguf], ggufType: .q8_0).validate()
            Issue.record("a plain model was accepted without an output directory")
        } catch let error as JobError {
            #expect("\(error)".contains("--output"), "\(error)")
        }
    }

    /// `dlp prune --method sparsegpt --quantize q4_0 --formats gguf,safetensors` on the real model
    /// (4 × 128 calibration tokens, uniform 50%): model.gguf stores every pruned linear as Q4_0, its
    /// bytes are what the RTN quantizer gives for its own decoded values (a fixed point), and those
    /// values are bit for bit the f32 weights of hf/ (the jointly quantized weights reached the file
    /// without re-rounding); the manifest records the quantization, the mask's exact 50% and the
    /// stored zeros, which the file's zeros equal.
    @Test(.enabled(if: TestAssets.has(smol, c4)))
    func jointQuantizationEndToEnd() throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let executable = TestAssets.dlpExecutable
        try #require(FileManager.default.isExecutableFile(atPath: executable.path), "no dlp executable at \(executable.path)")
        let output = folder.appendingPathComponent("out")
        let (status, stderr) = runCapturingStandardError(executable.path, [
            "prune", Self.smol.path, "--method", "sparsegpt", "--allocation", "uniform", "--sparsity", "0.5",
            "--samples", "4", "--seqlen", "128", "--calibration", Self.c4.path, "--threads", "2", "--no-cache",
            "--quantize", "q4_0", "--formats", "gguf,safetensors", "--output", output.path])
        try #require(status == 0, "\(stderr)")
        let manifest = try JSONDecoder().decode(PruningManifest.self, from: Data(contentsOf: output.appendingPathComponent("manifest.json")))
        #expect(manifest.settings.quantization == .q4_0)
        #expect(manifest.ggufLinears == PruningManifest.GGUFLinears(type: .q4_0, fallbacks: [:]))
        #expect(abs(manifest.overallSparsity - 0.5) < 1e-3)
        let stored = try #require(manifest.storedSparsity)
        #expect(stored > manifest.overallSparsity && stored < manifest.overallSparsity + 0.1, "\(stored)")
        let report = try String(contentsOf: output.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(report.contains("| joint quantization | q4_0") && report.contains("| stored zeros |"))

        let file = try GGUFFile(url: output.appendingPathComponent("model.gguf"))
        let gguf = try Checkpoint.open(file.url.path)
        let hf = try Checkpoint.open(output.appendingPathComponent("hf").path)
        let c = gguf.configuration
        var moved = 0, differing = 0
        for block in 0..<c.layerCount {
            for (index, role) in TensorRole.linears.enumerated() {
                let name = role.ggufName(block: block)
                #expect(try file.tensorInfo(name).dtype == .q4_0)
                let values = try file.floats(name)
                if quantize(values, as: .q4_0) != Array(try file.rawBytes(name)) { moved += 1 }
                var expected = try hf.tensor(role, block: block)
                if role == .query || role == .key {
                    let heads = role == .query ? c.headCount : c.keyValueHeadCount
                    expected = QKRowPermutation.toGGUF(expected, heads: heads, columns: c.hiddenSize)
                }
                if values.indices.contains(where: { values[$0] == 0 ? expected[$0] != 0 : values[$0].bitPattern != expected[$0].bitPattern }) {
                    differing += 1
                }
                #expect(values.filter { $0 == 0 }.count == manifest.blocks[block].matrices[index].storedZeros, "block \(block) \(role)")
            }
        }
        #expect(moved == 0, "\(moved) linears are not fixed points of the Q4_0 quantizer")
        #expect(differing == 0, "\(differing) linears of model.gguf differ from hf/")
    }

    /// Types that lose zeros are refused with the list of those that keep them; rows that are not
    /// a multiple of the block fall back as llama-quantize does (SmolLM2: every linear but ffn_down has
    /// 576-wide rows, which Q6_K cannot hold).
    @Test func ggufTypesKeepZerosOrFallBack() throws {
        #expect(try PruneJob.parseGGUFType("Q4_0") == .q4_0 && PruneJob.parseGGUFType("q6_k") == .q6_K && PruneJob.parseGGUFType("bf16") == .bf16)
        for refused in ["q4_1", "Q5_1", "q4_k", "q5_k", "iq4_nl"] {
            let error = try #require(throws: JobError.self) { try PruneJob.parseGGUFType(refused) }
            #expect("\(error)".contains("does not keep pruned weights at exactly zero") && "\(error)".contains("q8_0, q6_k, q5_0, q4_0"), "\(error)")
        }
        #expect(throws: JobError.self) { try PruneJob.parseGGUFType("q3") }
        #expect(PruneJob.ggufTypes.allSatisfy { $0.keepsExactZero })
        #expect(GGUFExport.linearType(.q6_K, rowLength: 1536) == .q6_K)
        #expect(GGUFExport.linearType(.q6_K, rowLength: 576) == .q8_0)
        #expect(GGUFExport.linearType(.q6_K, rowLength: 600) == .f16)
        #expect(GGUFExport.linearType(.q4_0, rowLength: 600) == .f16)
        #expect(GGUFExport.linearType(.bf16, rowLength: 7) == .bf16)
        guard TestAssets.has(Self.smol) else { return }
        let checkpoint = try Checkpoint.open(Self.smol.path)
        let fallbacks = try GGUFExport.linearTypes(checkpoint, dtype: .q6_K)
        #expect(fallbacks.count == 6 * checkpoint.configuration.layerCount && Set(fallbacks.values) == [.q8_0])
        #expect(fallbacks["blk.0.ffn_down.weight"] == nil && fallbacks["blk.0.attn_q.weight"] == .q8_0)
        #expect(try GGUFExport.linearTypes(checkpoint, dtype: .q4_0).isEmpty)
    }

    /// What `dlp prune` writes when not told (gguf and safetensors, not every format), and old job
    /// files and manifests without the sparse fields still decode.
    @Test func exportDefaultsAndOldFilesDecode() throws {
        #expect(PruneJob.Exports().formats == [.gguf, .safetensors] && PruneJob.Exports().sparseType == .bf16)
        #expect(PruneJob.ExportFormat.allCases.count == 3)
        let old = try JSONDecoder().decode(PruneJob.Exports.self, from: Data(#"{"formats": ["gguf"], "ggufType": "F16"}"#.utf8))
        #expect(old == PruneJob.Exports(formats: [.gguf], ggufType: .f16, sparseType: .bf16))
        let manifest = TestAssets.projectRoot
            .appendingPathComponent("experiments/results/qwen-seed2/qwen2.5-coder-0.5b/wanda-uniform-p70/pruned/manifest.json")
        let text = try String(contentsOf: manifest, encoding: .utf8)
        #expect(!text.contains("sparseValueType"))
        let decoded = try JSONDecoder().decode(PruningManifest.self, from: Data(text.utf8))
        #expect(decoded.sparseValueType == nil && decoded.ggufLinears == nil && !decoded.blocks.isEmpty)
        #expect(try PruneJob.ExportFormat.parseList("gguf,sparse") == [.gguf, .sparse])
        #expect(PruneJob.sparsityStructure(pattern: .nm(zeros: 2, group: 4), ratios: [0.5, 0.5]) == "2:4")
        #expect(PruneJob.sparsityStructure(pattern: .nm(zeros: 2, group: 4), ratios: [0.25, 0.75]) == "unstructured")
        #expect(PruneJob.sparsityStructure(pattern: .unstructured, ratios: [0.7]) == "unstructured")
    }

    @Test func invalidSettingsNameTheSetting() throws {
        let folder = Self.folder()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = folder.appendingPathComponent("docs.txt")
        try Data("a document\n".utf8).write(to: source)
        let calibration = CalibrationSettings(source: CalibrationSource(name: "docs.txt", path: source.path), sampling: .stream,
                                              samples: 1, sequenceLength: 8, seed: 0)
        let good = PruneJob(model: "m", allocation: try .named("ramp"), calibration: calibration,
                            output: folder.appendingPathComponent("out").path)
        try good.validate()
        func setting(_ change: (inout PruneJob) -> Void) -> String? {
            var job = good
            change(&job)
            do { try job.validate() } catch let error as JobError {
                if case let .invalidSetting(setting, _) = error { return setting }
            } catch { return "other error \(error)" }
            return nil
        }
        #expect(setting { $0.target = 1 } == "sparsity")
        #expect(setting { $0.pattern = .nm(zeros: 2, group: 4) } == "sparsity")
        #expect(setting { $0.calibration.samples = 0 } == "samples")
        #expect(setting { $0.calibration.source.path = folder.appendingPathComponent("missing").path } == "calibration")
        #expect(setting { $0.exports.formats = [] } == "formats")
        #expect(setting { $0.exports.ggufType = .q4_1 } == "gguf-dtype")
        #expect(setting { $0.quantization = .q4_0 } == "gguf-dtype")
        #expect(setting { $0.quantization = .q8_0; $0.exports.ggufType = .q8_0 } == nil)
        #expect(setting { $0.evaluationSequenceLength = 1 } == "eval-seqlen")
        #expect(setting { $0.threads = 0 } == "threads")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("out"), withIntermediateDirectories: true)
        #expect(setting { _ in } == "output")
        #expect(setting { $0.replaceExisting = true } == nil)
    }

    @Test func jobsSurviveTheirJSONFiles() throws {
        let folder = Self.folder()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let jobs: [Job] = [
            .prune(PruneJob(model: "smollm2-135m", method: .sparsegpt, allocation: try Allocation(name: "owl", parameters: ["M": "7"]),
                            target: 0.5, pattern: .nm(zeros: 2, group: 4), quantization: .q8_0, calibration: Self.calibration(), threads: 3,
                            evaluations: [.ptb(URL(fileURLWithPath: "/d/ptb.txt"))], evaluationWindows: 4,
                            exports: .init(formats: [.safetensors], ggufType: .q8_0), output: "/o", command: ["dlp", "x"])),
            .perplexity(PerplexityJob(model: "/m.gguf", dataset: .wikitext2(URL(fileURLWithPath: "/w.raw")), sequenceLength: 512,
                                      maxWindows: 2)),
            .zeroshot(ZeroShotJob(model: "/m.gguf", tasks: [.boolq, .arcEasy], dataDirectory: "/z", limit: 10)),
        ]
        for job in jobs {
            let file = folder.appendingPathComponent("\(job.kind).json")
            try job.write(to: file)
            #expect(try Job.load(from: file) == job)
        }
        let text = try String(contentsOf: folder.appendingPathComponent("prune.json"), encoding: .utf8)
        #expect(text.contains(#""pattern" : "2:4""#) && text.contains(#""name" : "owl""#) && text.contains(#""ptb:/d/ptb.txt""#))
        #expect(text.contains(#""quantization" : "q8_0""#))
        try Data(#"{"kind": "train", "job": {}}"#.utf8).write(to: folder.appendingPathComponent("bad.json"))
        #expect(throws: JobError.self) { try Job.load(from: folder.appendingPathComponent("bad.json")) }
    }

    /// `dlp bench decode --tokens N` generates N tokens (the option was read twice, and the second
    /// read found it already taken, so the default of 32 was used whatever was asked).
    @Test(.enabled(if: TestAssets.has(smol)))
    func benchDecodeGeneratesTheTokensAskedFor() throws {
        let executable = TestAssets.dlpExecutable
        try #require(FileManager.default.isExecutableFile(atPath: executable.path), "no dlp executable at \(executable.path)")
        let (status, stdout) = runCapturingStandardOutput(executable.path, ["bench", "decode", Self.smol.path, "--context", "16",
                                                                            "--tokens", "3", "--dtype", "f32", "--threads", "1", "--json"])
        try #require(status == 0)
        let report = try JSONDecoder().decode(DecodeBenchmark.Report.self, from: stdout)
        #expect(report.generatedTokens == 3 && report.rows.allSatisfy { $0.context == 16 })
    }

    /// Bad input at the command line is a usage error (exit 64) that names what is wrong: a flag of
    /// another allocation, an unknown allocation, a job file that is not a job.
    @Test func commandLineNamesBadInput() throws {
        let executable = TestAssets.dlpExecutable
        try #require(FileManager.default.isExecutableFile(atPath: executable.path), "no dlp executable at \(executable.path)")
        let folder = Self.folder()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let bad = folder.appendingPathComponent("bad.json")
        try Data(#"{"kind": "train", "job": {}}"#.utf8).write(to: bad)
        func run(_ arguments: [String]) throws -> (Int32, String) { runCapturingStandardError(executable.path, arguments) }
        let out = folder.appendingPathComponent("out").path
        for (arguments, message) in [
            (["prune", "m", "--allocation", "dlp", "--owl-m", "3", "--output", out], "--owl-m does not apply to --allocation dlp"),
            (["prune", "m", "--allocation", "uniform", "--alpha", "0.1", "--output", out], "--alpha does not apply to --allocation uniform; it is a parameter of dlp, ramp"),
            (["prune", "m", "--allocation", "nope", "--output", out], "--allocation nope: not an allocation; valid: uniform, owl, dlp, ramp"),
            (["prune", "m", "--statistic", "max", "--output", out], "statistic 'max' is not valid; valid: median, mean"),
            (["job", bad.path], "unknown kind 'train'"),
            (["generate", "m"], "give the prompt: --prompt TEXT or --file PATH"),
            (["generate", "m", "--prompt", "a", "--file", bad.path], "give --prompt or --file, not both"),
            (["generate", "m", "--prompt", "a", "--sparse", "maybe"], "sparse mode 'maybe' is not valid; valid: auto, on, off"),
            (["generate", "m", "--prompt", "a", "--dtype", "int4"], "weight type 'int4' is not valid; valid: f32, f16, bf16, q8_0, q4_0"),
            (["generate", "m", "--prompt", "a", "--top-p", "1.5"], "top-p: expected a number in (0, 1]"),
            (["generate", "m", "--prompt", "a", "--system", "x"], "system: applies only with --chat"),
            (["generate", "m", "--prompt", ""], "prompt: is empty"),
            (["generate", "m", "--file", folder.appendingPathComponent("missing.txt").path], "--file: cannot read"),
            (["bench", "decode", "m", "--context", "0"], "--context"),
            (["convert", folder.path], "is not a dlp prune output: it has no manifest.json"),
            (["prune", "m", "--formats", "gguf,zip", "--output", out], "unknown format 'zip'; valid: gguf, safetensors, sparse"),
            (["prune", "m", "--sparse-dtype", "int8", "--output", out], "weight type 'int8' is not valid; valid: f32, f16, bf16, q8_0, q4_0"),
            (["prune", "m", "--gguf-dtype", "q4_1", "--output", out], "q4_1 does not keep pruned weights at exactly zero"),
            (["prune", "m", "--gguf-dtype", "q4_k", "--output", out], "types that keep zeros: f32, f16, bf16, q8_0, q6_k, q5_0, q4_0"),
            (["prune", "m", "--quantize", "q4_1", "--output", out], "--quantize q4_1: joint quantization type 'q4_1' is not valid; valid: q4_0, q8_0"),
            (["prune", "m", "--quantize", "q6_k", "--output", out], "valid: q4_0, q8_0"),
            (["prune", "m", "--quantize", "q4_0", "--gguf-dtype", "q8_0", "--output", out], "--quantize q4_0 and --gguf-dtype q8_0 conflict"),
        ] {
            let (status, text) = try run(arguments)
            #expect(status == 64 && text.contains(message), "\(arguments): \(status) \(text)")
        }
    }
}
