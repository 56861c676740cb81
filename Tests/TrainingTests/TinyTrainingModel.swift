import Foundation
import Kernels
import Testing
import TensorCore
import TensorIO
import Training
import Transformer
import _TestSupport

/// One tiny decoder shape for the gradient checks: 2 blocks, hidden 16, 4 query heads of width 4,
/// `keyValueHeads` key/value heads (2: grouped-query, 4: one per query head), FFN 24, vocabulary 40.
struct TinySetup: Sendable, CustomTestStringConvertible {
    var convention: RotaryConvention
    /// q/k/v biases (Qwen2) or none (LLaMA).
    var biases: Bool
    var tied: Bool
    var keyValueHeads: Int

    var testDescription: String {
        "\(convention) \(biases ? "bias" : "no-bias") \(tied ? "tied" : "untied") K=\(keyValueHeads)"
    }

    var configuration: ModelConfiguration {
        ModelConfiguration(architecture: biases ? .qwen2 : .llama, layerCount: 2, hiddenSize: 16, intermediateSize: 24,
                           headCount: 4, keyValueHeadCount: keyValueHeads, headDimension: 4, vocabularySize: 40,
                           rmsNormEpsilon: 1e-5, ropeTheta: 100, contextLength: 32, tiedEmbeddings: tied)
    }

    /// Every combination of the four choices.
    static let all: [TinySetup] = [RotaryConvention.interleaved, .halfSplit].flatMap { convention in
        [true, false].flatMap { biases in
            [true, false].flatMap { tied in [2, 4].map { TinySetup(convention: convention, biases: biases, tied: tied, keyValueHeads: $0) } }
        }
    }

    /// The combinations a checkpoint can express: interleaved RoPE only for a GGUF llama.
    static let loadable = all.filter { $0.convention == .halfSplit || !$0.biases }
}

/// Seeded random weights for a ``TinySetup``: linears uniform in ±0.5 with about half of them
/// exactly zero (a pruned model), gains `1 ± 0.3`, biases ±0.2, embedding and head ±1; held as a
/// checkpoint the product loads (GGUF names for interleaved RoPE, a GGUF llama; Hugging Face
/// names otherwise) and decoded from it.
struct TinyWeights {
    let checkpoint: Checkpoint
    var embedding: Matrix
    var head: Matrix?
    var finalNorm: [Float]
    var blocks: [BlockWeights]

    init(_ setup: TinySetup, seed: UInt64 = 7) throws {
        let c = setup.configuration
        let format: CheckpointFormat = setup.convention == .interleaved ? .gguf : .safetensors
        var g = SeededGenerator(seed: seed)
        var infos = [TensorInfo](), values = [String: [Float]]()
        for role in TensorRole.allCases where role.isPresent(in: c) {
            for block in role.isPerBlock ? Array(0..<c.layerCount) : [0] {
                let info = TensorInfo(name: role.name(in: format, block: block), dtype: .f32, shape: role.shape(c))
                let uniform = g.uniform(count: info.elementCount)
                switch role {
                case .tokenEmbedding, .output: values[info.name] = uniform
                case .attentionNorm, .feedForwardNorm, .outputNorm: values[info.name] = uniform.map { 1 + 0.3 * $0 }
                case .queryBias, .keyBias, .valueBias: values[info.name] = uniform.map { 0.2 * $0 }
                default: values[info.name] = uniform.map { abs($0) < 0.5 ? 0 : 0.5 * $0 }
                }
                infos.append(info)
            }
        }
        let checkpoint = try Checkpoint(url: URL(fileURLWithPath: "/tiny"), format: format, configuration: c,
                                        source: MemoryTensors(tensors: infos, values: values))
        self.checkpoint = checkpoint
        embedding = try checkpoint.tokenEmbedding()
        head = c.tiedEmbeddings ? nil : try checkpoint.outputHead()
        finalNorm = try checkpoint.outputNorm()
        blocks = try (0..<c.layerCount).map { try checkpoint.block($0) }
    }

    func model<S: TrainingScalar>(_ setup: TinySetup, blocks: [BlockWeights]? = nil) throws -> TrainingModel<S> {
        try TrainingModel(configuration: setup.configuration, convention: setup.convention, embedding: embedding, head: head,
                          finalNorm: finalNorm, blocks: blocks ?? self.blocks, maxSequenceLength: 32)
    }
}

/// A seeded token sequence of `count` ids and its next-token targets; the middle target is −1
/// (not scored).
func tinyTokens(_ count: Int, vocabulary: Int = 40, seed: UInt64 = 3) -> (tokens: [Int32], targets: [Int32]) {
    var g = SeededGenerator(seed: seed)
    let ids = (0...count).map { _ in Int32(g.next() % UInt64(vocabulary)) }
    var targets = Array(ids[1...])
    targets[count / 2] = -1
    return (Array(ids[..<count]), targets)
}

/// Central differences `(f(i, +h) − f(i, −h)) / 2h` for `count` coordinates.
func centralDifferences(count: Int, step h: Double = 1e-5, _ f: (Int, Double) -> Double) -> [Double] {
    (0..<count).map { (f($0, h) - f($0, -h)) / (2 * h) }
}

/// `max_i |a_i − b_i| / max_i |b_i|`: the worst error relative to the gradient's scale.
func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "relativeError: \(a.count) vs \(b.count) values")
    let scale = b.map(abs).max() ?? 0
    let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
    return scale > 0 ? worst / scale : worst
}

/// Seeded values uniform in ±scale, in Double.
func randomDoubles(_ count: Int, seed: UInt64, scale: Double = 1) -> [Double] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { _ in Double(g.nextSignedUnit()) * scale }
}

func randomMatrix(_ rows: Int, _ columns: Int, seed: UInt64, scale: Double = 1) -> TrainingMatrix<Double> {
    TrainingMatrix(rows: rows, columns: columns, storage: randomDoubles(rows * columns, seed: seed, scale: scale))
}
