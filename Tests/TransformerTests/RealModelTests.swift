import Foundation
import Testing
import Kernels
import TensorCore
import TensorIO
import Transformer
import _TestSupport

/// Loading, summarising and running the real GGUF models of the asset cache.
@Suite struct RealModelTests {
    static let smol = TestAssets.model("smollm2-135m")
    static let qwen = TestAssets.model("qwen2.5-coder-0.5b")

    @Test(.enabled(if: TestAssets.has(smol)))
    func smolLM2Summary() throws {
        let s = ModelSummary(try Checkpoint.openGGUF(Self.smol))
        #expect(s.architecture == .llama && s.layerCount == 30 && s.hiddenSize == 576 && s.intermediateSize == 1536)
        #expect(s.headCount == 9 && s.keyValueHeadCount == 3 && s.headDimension == 64 && s.vocabularySize == 49152)
        #expect(s.tiedEmbeddings && s.rotaryConvention == "interleaved")
        #expect(s.parameterCount == 134_515_008)  // about 134.5M, counted from the stored tensors
        #expect(s.tensorTypes == ["Q4_1": 210, "F32": 61, "Q8_0": 1])
    }

    /// A model built without its head decodes each token's embedding row from the GGUF mapping:
    /// the same values as the whole decoded table (Q8_0 SmolLM2 embedding, Qwen2's untied one), and
    /// the head is not available.
    @Test(.enabled(if: TestAssets.has(smol, qwen)), arguments: ["smollm2-135m", "qwen2.5-coder-0.5b"])
    func embeddingRowsEqualTheDecodedTable(name: String) throws {
        let checkpoint = try Checkpoint.openGGUF(TestAssets.model(name))
        let d = checkpoint.configuration.hiddenSize, v = checkpoint.configuration.vocabularySize
        let tokens: [Int32] = [0, 1, 17, Int32(v / 2), Int32(v - 1), 17]
        let full = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: 8)
        let rows = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: 8, decodesHead: false)
        #expect(full.hasHead && !rows.hasHead)
        var a = [Float](repeating: .nan, count: tokens.count * d), b = a
        try full.embed(tokens, into: &a)
        try rows.embed(tokens, into: &b)
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
        let table = try checkpoint.tokenEmbedding()
        #expect(Array(b[(4 * d)..<(5 * d)]) == Array(table.storage[((v - 1) * d)..<(v * d)]))
        #expect(throws: ModelError.self) { try rows.embed([Int32(v)], into: &b) }
    }

    @Test(.enabled(if: TestAssets.has(qwen)))
    func qwen2Summary() throws {
        let s = ModelSummary(try Checkpoint.openGGUF(Self.qwen))
        #expect(s.architecture == .qwen2 && s.layerCount == 24 && s.hiddenSize == 896 && s.headCount == 14)
        #expect(s.keyValueHeadCount == 2 && s.rotaryConvention == "halfSplit" && !s.tiedEmbeddings)
    }

    /// The same model read from GGUF and from its Hugging Face export computes the same block
    /// outputs: this exercises the tensor-name table, the q/k row permutation (llama) and the
    /// biases (qwen2). Tolerance: both paths run identical float operations except for the
    /// permuted row order of q/k, which changes no sum; 1e-5 relative leaves room for BLAS
    /// choosing different kernels for different leading dimensions.
    @Test(.enabled(if: TestAssets.has(smol, qwen)), arguments: ["smollm2-135m", "qwen2.5-coder-0.5b"])
    func ggufAndSafetensorsAgree(model: String) throws {
        let gguf = try Checkpoint.openGGUF(TestAssets.model(model))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dlp-export-\(model)-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        try HuggingFaceExport.write(gguf, to: directory, blockCount: 2)
        let hf = try Checkpoint.openSafetensors(directory)
        var expected = gguf.configuration
        expected.layerCount = 2
        #expect(hf.configuration.hiddenSize == expected.hiddenSize && hf.configuration.ropeTheta == expected.ropeTheta)
        #expect(hf.configuration.tiedEmbeddings == expected.tiedEmbeddings && hf.rotaryConvention == .halfSplit)

        let t = 37, c = expected
        var generator = SeededGenerator(seed: 7)
        let input = Matrix(rows: t, columns: c.hiddenSize, storage: generator.uniform(count: t * c.hiddenSize))
        let a = try LanguageModel(checkpoint: gguf, maxSequenceLength: 64)
        let b = try LanguageModel(checkpoint: hf, maxSequenceLength: 64)
        let workspace = BlockWorkspace(configuration: c, capacity: t, threads: .single)
        var x = input, y = input
        for block in 0..<2 {
            try a.layer(block).forward(&x, workspace: workspace)
            try b.layer(block).forward(&y, workspace: workspace)
        }
        let scale = x.storage.map(abs).max() ?? 1
        let difference = zip(x.storage, y.storage).map { abs($0 - $1) }.max() ?? 0
        #expect(difference <= 1e-5 * scale, "\(model): max |Δ| \(difference) at scale \(scale)")
    }

    /// A model whose blocks are replaced (how `dlp prune` evaluates the pruned model) runs the
    /// replacement blocks and gives the logits of a model built from scratch with them; Qwen2.5's
    /// GGUF stores a separate LM head, which is shared rather than decoded again.
    @Test(.enabled(if: TestAssets.has(qwen)))
    func replacedBlocksMatchAFreshModel() throws {
        let checkpoint = try Checkpoint.openGGUF(Self.qwen)
        let dense = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: 16)
        let halved: @Sendable (Int) throws -> BlockWeights = { index in
            var weights = try checkpoint.block(index)
            var gate = weights[linear: .gate]
            gate.storage = gate.storage.map { $0 * 0.5 }
            weights[linear: .gate] = gate
            return weights
        }
        let replaced = dense.replacingBlocks(halved)
        let fresh = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: 16, blockWeights: halved)
        let c = checkpoint.configuration, tokens: [Int32] = [9707, 11, 1879, 0, 576, 3974, 13]
        func run(_ model: LanguageModel) throws -> Matrix {
            var hidden = Matrix(rows: tokens.count, columns: c.hiddenSize)
            try hidden.storage.withUnsafeMutableBufferPointer { try model.embed(tokens, into: $0.baseAddress!) }
            let workspace = BlockWorkspace(configuration: c, capacity: tokens.count, threads: .single)
            for block in 0..<2 { try model.layer(block).forward(&hidden, workspace: workspace) }
            return hidden.storage.withUnsafeBufferPointer { model.logits($0.baseAddress!, rows: Array(0..<tokens.count)) }
        }
        let a = try run(replaced), b = try run(fresh), original = try run(dense)
        // The same weights give the same logits up to OpenBLAS's thread count, which other
        // tests running at once may change between the runs (it moves only the last bits).
        let same = Self.largestRelativeDifference(a.storage, b.storage)
        let halvedGate = Self.largestRelativeDifference(a.storage, original.storage)
        #expect(same <= 1e-4, "relative |Δ| \(same)")
        #expect(halvedGate >= 1e-2, "halving the gate moved the logits by only \(halvedGate) (relative)")
    }

    /// Sparse linears (``BlockWorkspace/sparseLinears``): on SmolLM2's first two blocks with 70%
    /// of every linear's weights zeroed (Qwen2's q/k/v biases too, on its first block), 130
    /// tokens (tiles of 64, 64 and 2) on two threads give the dense workspace's hidden states to
    /// rounding, by another summation (not the same bits: the sparse path ran); with 80% kept the
    /// linears stay dense (above ``DecoderLayer/sparseDensityLimit``, even with the zeros Qwen's
    /// quantized weights hold already) and the bits are the same.
    @Test(.enabled(if: TestAssets.has(smol, qwen)), arguments: ["smollm2-135m", "qwen2.5-coder-0.5b"])
    func sparseLinearsMatchTheDenseForward(name: String) throws {
        let checkpoint = try Checkpoint.openGGUF(TestAssets.model(name))
        let c = checkpoint.configuration, blocks = name == "smollm2-135m" ? 2 : 1
        let tokens = (0..<130).map { Int32(($0 * 7919 + 11) % c.vocabularySize) }
        let model = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: tokens.count)
        for (keep, expectSparse) in [(3, true), (8, false)] {
            var layers = [DecoderLayer]()
            for block in 0..<blocks {
                var layer = try model.layer(block)
                var weights = layer.weights
                for role in TensorRole.linears {
                    var w = weights[linear: role]
                    for i in 0..<w.storage.count where ((i &* 2654435761) >> 7 & 1023) % 10 >= keep { w.storage[i] = 0 }
                    weights[linear: role] = w
                }
                layer.weights = weights
                layers.append(layer)
            }
            func run(sparse: Bool) throws -> [Float] {
                var hidden = Matrix(rows: tokens.count, columns: c.hiddenSize)
                try hidden.storage.withUnsafeMutableBufferPointer { try model.embed(tokens, into: $0.baseAddress!) }
                let workspace = BlockWorkspace(configuration: c, capacity: tokens.count, threads: ComputeThreads(2))
                workspace.sparseLinears = sparse
                for layer in layers { layer.forward(&hidden, workspace: workspace) }
                return hidden.storage
            }
            let dense = try run(sparse: false), sparse = try run(sparse: true)
            if expectSparse {
                let difference = Self.largestRelativeDifference(dense, sparse), same = dense == sparse
                #expect(difference <= 1e-4 && !same, "\(name), \(keep)0% kept: relative |Δ| \(difference), same bits: \(same)")
            } else {
                let same = dense == sparse
                #expect(same, "\(name), \(keep)0% kept: the linears should have stayed dense")
            }
        }
    }

    /// The largest `|a - b|` of corresponding elements, each relative to `|a| + rms(a)`: rounding
    /// moves an element by a fraction of its own size, while a real change in a small element
    /// stands out even next to the few very large activations these models carry.
    static func largestRelativeDifference(_ a: some Collection<Float>, _ b: some Collection<Float>) -> Float {
        let rms = (a.reduce(Float(0)) { $0 + $1 * $1 } / Float(max(1, a.count))).squareRoot()
        return zip(a, b).map { abs($0 - $1) / (abs($0) + rms) }.max() ?? 0
    }

    /// Causality: changing the last token changes no earlier position's output, not by a bit, even
    /// with OpenBLAS's thread count changed between the runs (the products run on our own threads,
    /// cut by shape). A changed token moves its own row by far more (0.87 relative on SmolLM2-135M).
    @Test(.enabled(if: TestAssets.has(smol)))
    func blocksAreCausal() throws {
        let model = try LanguageModel(checkpoint: try Checkpoint.openGGUF(Self.smol), maxSequenceLength: 300)
        let c = model.configuration, t = 300
        let workspace = BlockWorkspace(configuration: c, capacity: t, threads: ComputeThreads(2), tileRows: 64)
        var tokens = (0..<t).map { Int32(($0 * 7919) % c.vocabularySize) }
        func run() throws -> Matrix {
            var hidden = Matrix(rows: t, columns: c.hiddenSize)
            try hidden.storage.withUnsafeMutableBufferPointer { try model.embed(tokens, into: $0.baseAddress!) }
            for block in 0..<3 { try model.layer(block).forward(&hidden, workspace: workspace) }
            return hidden
        }
        let previous = BLASRuntime.threadCount
        defer { BLASRuntime.setThreadCount(previous) }
        BLASRuntime.setThreadCount(1)
        let before = try run()
        tokens[t - 1] = 1
        BLASRuntime.setThreadCount(2)
        let after = try run()
        let prefix = (t - 1) * c.hiddenSize
        let earlier = Self.largestRelativeDifference(before.storage[..<prefix], after.storage[..<prefix])
        let last = Self.largestRelativeDifference(before.storage[prefix...], after.storage[prefix...])
        #expect(earlier == 0, "earlier rows moved by \(earlier) (relative)")
        #expect(last >= 1e-2, "the changed row moved by only \(last) (relative)")
    }

    /// A packed call (two whole sequences, a prefix and two continuations of it) gives each row
    /// what running its whole sequence alone gives: Qwen2 (biases, 2 query heads per key/value
    /// head) and three blocks, with the prefix long enough to span two attention tiles.
    @Test(.enabled(if: TestAssets.has(qwen)))
    func packedSegmentsMatchWholeSequences() throws {
        let model = try LanguageModel(checkpoint: try Checkpoint.openGGUF(Self.qwen), maxSequenceLength: 256)
        let c = model.configuration, d = c.hiddenSize
        let ids = (0..<200).map { Int32(($0 * 7919 + 11) % c.vocabularySize) }
        let prefix = Array(ids[0..<70]), first = Array(ids[70..<83]), second = Array(ids[100..<101])
        let loneA = Array(ids[120..<160]), loneB = Array(ids[160..<163])
        // Packed rows: loneA | prefix | first (after prefix) | loneB | second (after prefix).
        let pieces = [loneA, prefix, first, loneB, second]
        var segments: [PackedSegment] = []
        var row = 0
        for (i, piece) in pieces.enumerated() {
            segments.append(PackedSegment(start: row, count: piece.count, after: i == 2 || i == 4 ? 1 : nil))
            row += piece.count
        }
        let workspace = BlockWorkspace(configuration: c, capacity: row, threads: ComputeThreads(2), tileRows: 32)
        var packed = Matrix(rows: row, columns: d)
        try packed.storage.withUnsafeMutableBufferPointer { pb in
            for (segment, piece) in zip(segments, pieces) { try model.embed(piece, into: pb.baseAddress! + segment.start * d) }
            for block in 0..<3 { try model.layer(block).forward(packed: pb.baseAddress!, segments: segments, workspace: workspace) }
        }
        func whole(_ tokens: [Int32]) throws -> Matrix {
            var hidden = Matrix(rows: tokens.count, columns: d)
            try hidden.storage.withUnsafeMutableBufferPointer { try model.embed(tokens, into: $0.baseAddress!) }
            for block in 0..<3 { try model.layer(block).forward(&hidden, workspace: workspace) }
            return hidden
        }
        // Each packed segment against the matching rows of its whole sequence.
        let expected: [(Matrix, Int)] = [(try whole(loneA), 0), (try whole(prefix), 0), (try whole(prefix + first), prefix.count),
                                         (try whole(loneB), 0), (try whole(prefix + second), prefix.count)]
        for (segment, (reference, skip)) in zip(segments, expected) {
            let got = packed.storage[(segment.start * d)..<((segment.start + segment.count) * d)]
            let want = reference.storage[(skip * d)...]
            let scale = want.map { abs($0) }.max() ?? 1
            let worst = zip(got, want).map { abs($0 - $1) }.max() ?? .nan
            #expect(worst <= 1e-5 * scale, "segment at row \(segment.start): max |Δ| \(worst) at scale \(scale)")
        }
    }
}
