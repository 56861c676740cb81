import Foundation
import Testing
import Kernels
import Pruning
import TensorCore
import TensorIO
import Transformer
import _TestSupport

/// The sequential pipeline on the real SmolLM2-135M with a short calibration: allocations,
/// verification, determinism, exports, and SparseGPT against magnitude on a real layer.
@Suite(.serialized) struct PipelineTests {
    static let smol = TestAssets.model("smollm2-135m")
    static let c4 = TestAssets.data("c4.utf8")

    static func setup(samples: Int = 2, tokens: Int = 64) throws -> (Checkpoint, LanguageModel, CalibrationSet) {
        let checkpoint = try Checkpoint.openGGUF(smol)
        let settings = CalibrationSettings(source: CalibrationSource(name: "c4", path: c4.path), sampling: .stream,
                                           samples: samples, sequenceLength: tokens, seed: 0)
        let set = try CalibrationSet(settings: settings, tokenizer: try checkpoint.tokenizer())
        return (checkpoint, try LanguageModel(checkpoint: checkpoint, maxSequenceLength: tokens), set)
    }

    static func temporaryDirectory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("dlp-pipeline-\(UUID().uuidString)")
    }

    @Test(.enabled(if: TestAssets.has(smol, c4)))
    func calibrationIsSeededAndDeterministic() throws {
        let (_, _, a) = try Self.setup()
        let (_, _, b) = try Self.setup()
        #expect(a.windows == b.windows && a.windowsDigest == b.windowsDigest)
        #expect(a.windows.count == 2 && a.windows.allSatisfy { $0.count == 64 })
        let checkpoint = try Checkpoint.openGGUF(Self.smol)
        var other = a.settings
        other.seed = 1
        #expect(try CalibrationSet(settings: other, tokenizer: try checkpoint.tokenizer()).windowsDigest != a.windowsDigest)
    }

    /// Wanda + DLP end to end: ratios average p and span 2α; every block's measured sparsity is
    /// what its ratio asks for (⌊in·R⌋ zeros in every row); a second run writes bit-identical
    /// weights; the GGUF and safetensors exports hold exactly the stored weights. (Bit-identical
    /// needs OpenBLAS's process-wide thread count to hold still across both runs, as it does in
    /// a `dlp` process; `make test` runs tests one at a time so that no other test moves it.)
    @Test(.enabled(if: TestAssets.has(smol, c4)))
    func wandaWithDLPEndToEnd() throws {
        let (checkpoint, model, set) = try Self.setup()
        let threads = ComputeThreads(2)
        let pipeline = PruningPipeline(model: model, windows: set.windows, threads: threads)
        let statistics = try pipeline.blockStatistics()
        let ratios = try DLPAllocation(alpha: 0.15).ratios(statistics, target: 0.7)
        #expect(abs(ratios.reduce(0, +) / Double(ratios.count) - 0.7) < 1e-12)
        #expect(abs((ratios.max()! - ratios.min()!) - 0.3) < 1e-12)
        // DLP-METHOD §3: on LLaMA models sparsity rises with depth.
        #expect(ratios.last! > ratios.first!)
        let targets = try BlockTargets(pattern: .unstructured, ratios: ratios, target: 0.7)

        var stores = [PrunedWeightStore]()
        defer { stores.forEach { $0.remove() } }
        for _ in 0..<2 {
            let store = try PrunedWeightStore(directory: Self.temporaryDirectory(), checkpoint: checkpoint)
            stores.append(store)
            let results = try pipeline.prune(targets: targets, pruner: LinearPruner(method: .wanda, threads: threads), store: store)
            for (l, result) in results.enumerated() {
                for (i, role) in TensorRole.linears.enumerated() {
                    let shape = role.shape(checkpoint.configuration)
                    let perRow = Int((Double(shape[1]) * ratios[l]).rounded(.down))
                    #expect(result.zeros[i] >= perRow * shape[0], "block \(l) \(role)")
                }
            }
        }
        for l in 0..<checkpoint.configuration.layerCount {
            let a = try stores[0].load(l), b = try stores[1].load(l)
            for role in TensorRole.linears {
                #expect(a[linear: role].storage.map(\.bitPattern) == b[linear: role].storage.map(\.bitPattern), "block \(l) \(role)")
            }
        }

        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = stores[0]
        try GGUFExport.write(checkpoint, to: directory.appendingPathComponent("model.gguf"), weights: { try store.load($0) })
        try HuggingFaceExport.write(checkpoint, to: directory.appendingPathComponent("hf"), weights: { try store.load($0) })
        let gguf = try Checkpoint.openGGUF(directory.appendingPathComponent("model.gguf"))
        let hf = try Checkpoint.openSafetensors(directory.appendingPathComponent("hf"))
        #expect(try gguf.tensor(.tokenEmbedding) == (try checkpoint.tensor(.tokenEmbedding)))
        for l in [0, 14, 29] {
            let stored = try store.load(l)
            for role in TensorRole.linears {
                #expect(try gguf.tensor(role, block: l) == stored[linear: role].storage, "GGUF block \(l) \(role)")
                var expected = stored[linear: role].storage
                if role == .query || role == .key {
                    let heads = role == .query ? checkpoint.configuration.headCount : checkpoint.configuration.keyValueHeadCount
                    expected = QKRowPermutation.toHuggingFace(expected, heads: heads, columns: checkpoint.configuration.hiddenSize)
                }
                #expect(try hf.tensor(role, block: l) == expected, "safetensors block \(l) \(role)")
            }
        }
    }

    /// SparseGPT reconstructs a real layer's output better than magnitude and Wanda at the same
    /// sparsity: with `H = (2/N)·Σ x xᵀ` from real calibration inputs of block 0's MLP,
    /// `‖X(W − Ŵ)ᵀ‖² ∝ Σ_rows δ H δᵀ` (δ = W − Ŵ); compare that quantity.
    @Test(.enabled(if: TestAssets.has(smol, c4)))
    func sparseGPTBeatsMagnitudeOnARealLayer() throws {
        let (_, model, set) = try Self.setup(samples: 4, tokens: 128)
        let layer = try model.layer(0)
        let c = model.configuration
        let hessians = HessianObserver(roles: [.gate], sequenceCount: set.windows.count)
        let norms = InputNormObserver(sequenceCount: set.windows.count)
        let workspace = BlockWorkspace(configuration: c, capacity: 128, threads: .single)
        for window in set.windows {
            var hidden = Matrix(rows: 128, columns: c.hiddenSize)
            try hidden.storage.withUnsafeMutableBufferPointer { try model.embed(window, into: $0.baseAddress!) }
            layer.forward(&hidden, workspace: workspace, observer: hessians)
            try hidden.storage.withUnsafeMutableBufferPointer { try model.embed(window, into: $0.baseAddress!) }
            layer.forward(&hidden, workspace: workspace, observer: norms)
        }
        let h = try hessians.hessian(for: .gate)
        let weight = layer.weights.gate
        func error(_ pruned: Matrix) -> Double {
            var total = 0.0
            for r in 0..<weight.rows {
                let delta = (0..<weight.columns).map { Double(weight[r, $0] - pruned[r, $0]) }
                for i in 0..<weight.columns where delta[i] != 0 {
                    var dot = 0.0
                    for j in 0..<weight.columns { dot += Double(h[i, j]) * delta[j] }
                    total += delta[i] * dot
                }
            }
            return total
        }
        var errors = [PruningMethod: Double]()
        for method in PruningMethod.allCases {
            var w = weight
            let calibration: LinearCalibration = method == .magnitude ? .none
                : method == .wanda ? .inputNorms(try norms.squaredNorms(for: .gate)) : .hessian(h)
            let outcome = try LinearPruner(method: method).prune(&w, target: .ratio(0.5), calibration: calibration, name: "gate")
            try SparsityVerifier.verify(outcome, weight: w, name: "gate")
            errors[method] = error(w)
        }
        #expect(errors[.sparsegpt]! < errors[.magnitude]!, "\(errors)")
        #expect(errors[.sparsegpt]! < errors[.wanda]!, "\(errors)")
    }
}
