import Foundation
import Jobs
import Kernels
import TensorCore
import TensorIO
import Transformer

/// `dlp inspect MODEL [--json]`: what a checkpoint holds and what pruning it would need.
struct InspectCommand: Command {
    static let name = "inspect"
    static let summary = "describe a model: architecture, sizes, tensor types, memory"
    static let synopsis = "usage: dlp inspect MODEL [--samples N] [--seqlen T] [--sparsity] [--json]"
    static let samples = Option("--samples", "N", "calibration sequences for the memory estimate (default 128)")
    static let seqlen = Option("--seqlen", "T", "calibration sequence length for the memory estimate (default 2048)")
    static let sparsity = Option("--sparsity", nil, "decode every block linear and count its zeros (automatic for a GGUF written by dlp prune\nand for sparse/ checkpoints)")
    static let options = [modelArgument, samples, seqlen, sparsity, jsonOption]
    let model: String
    let countZeros: Bool
    let samples: Int
    let sequenceLength: Int
    let json: Bool

    init(arguments: inout Arguments) throws {
        json = arguments.flag(jsonOption)
        countZeros = arguments.flag(Self.sparsity)
        samples = try arguments.value(Self.samples, positiveInt) ?? 128
        sequenceLength = try arguments.value(Self.seqlen, positiveInt) ?? 2048
        model = try arguments.positional(modelArgument)
    }

    func run() throws {
        let checkpoint = try Checkpoint.open(model)
        var summary = ModelSummary(checkpoint, calibrationSamples: samples, calibrationSequenceLength: sequenceLength)
        let prunedGGUF = (checkpoint.source as? GGUFFile)?.metadata["dlp.method"] != nil
        if countZeros || prunedGGUF || checkpoint.isSparse {
            summary.storedSparsity = try StoredSparsity(checkpoint)
        }
        if json {
            try printJSON(summary)
        } else {
            print(Self.text(summary))
        }
    }

    static func text(_ s: ModelSummary) -> String {
        let types = s.tensorTypes.sorted { $0.value > $1.value }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
        let m = s.pruningMemory
        return """
            \(s.name.map { "\($0) — " } ?? "")\(s.path)
              format            \(s.format.rawValue)\(s.sparseBitmaskWeights.map { " (\($0) weights stored sparse-bitmask)" } ?? ""), \(formatBytes(s.fileBytes)), \(s.tensorCount) tensors: \(types)
              architecture      \(s.architecture.rawValue), \(s.layerCount) blocks
              hidden / FFN      \(s.hiddenSize) / \(s.intermediateSize)
              heads             \(s.headCount) query, \(s.keyValueHeadCount) key/value, head dimension \(s.headDimension)
              vocabulary        \(s.vocabularySize), embeddings \(s.tiedEmbeddings ? "tied to the LM head" : "separate from the LM head")
              rotary            θ = \(s.ropeTheta), \(s.rotaryConvention) pairs\(s.ropeScaling.map { ", " + scalingText($0) } ?? ""); RMSNorm ε = \(s.rmsNormEpsilon); context \(s.contextLength)
              parameters        \(formatCount(s.parameterCount)) (\(formatCount(s.prunableParameterCount)) in block linears, prunable)
              pruning memory    \(formatBytes(s.pruningMemoryBytes)) (SparseGPT)\(s.scoreMaskPruningMemory.map { ", \(formatBytes($0.total)) (Wanda, magnitude)" } ?? "") \
            for \(s.calibrationSamples) × \(s.calibrationSequenceLength) calibration tokens:
                                activations \(formatBytes(m.calibrationActivations)), scratch \(formatBytes(m.forwardScratch)), \
            block weights \(formatBytes(m.blockWeights)), Hessians \(formatBytes(m.hessians))\
            \(s.scoreMaskPruningMemory.map { " (Wanda: scores of one linear, \(formatBytes($0.prunerScratch)))" } ?? ""),
                                embedding \(m.embedding == 0 ? "rows decoded per token" : formatBytes(m.embedding)), mapped model file \(formatBytes(m.mappedModel)), runtime \(formatBytes(m.runtime)); \
            export \(formatBytes(m.export)) after calibration\(s.evaluationMemoryBytes.map { "; --evaluate adds the decoded embedding\(s.tiedEmbeddings ? "" : " and LM head"), \(formatBytes($0))" } ?? "")
            """ + (s.storedSparsity.map { "\n" + sparsityText($0) } ?? "")
    }

    /// `scaled by rope_freqs (factors 1…8)`, `linear scaling ×4`.
    static func scalingText(_ scaling: RotaryScaling) -> String {
        switch scaling {
        case .none: return "no scaling"
        case .linear(let factor): return "linear scaling ×\(factor)"
        case let .llama3(factor, low, high, original):
            return "llama3 scaling (factor \(factor), low/high \(low)/\(high), original context \(original))"
        case .frequencyFactors(let factors):
            return String(format: "scaled by rope_freqs (factors %g…%g)", factors.min() ?? 0, factors.max() ?? 0)
        }
    }

    /// The stored zeros of the block linears: overall, the least and most sparse tensor, types.
    static func sparsityText(_ s: StoredSparsity) -> String {
        let zeros = s.linears.reduce(0) { $0 + $1.zeros }, count = s.linears.reduce(0) { $0 + $1.count }
        var types = [String: Int]()
        for linear in s.linears { types[linear.dtype, default: 0] += 1 }
        let typeList = types.sorted { $0.value > $1.value }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
        func describe(_ l: StoredSparsity.Linear?) -> String {
            l.map { String(format: "%.2f%%", $0.sparsity * 100) + " (\($0.name))" } ?? "—"
        }
        return String(format: "  stored sparsity   %.2f%%", s.overall * 100)
            + " of the block linears' weights are exactly 0 (\(formatCount(zeros)) of \(formatCount(count)), decoded from the file);\n"
            + "                    per tensor \(describe(s.least)) … \(describe(s.most)); stored as \(typeList)"
            + (s.linears.contains { DType(rawValue: $0.dtype)?.isQuantized == true }
                ? "\n                    (in block types a kept weight under half a quantization step also decodes to 0)" : "")
    }
}

/// `134.5M`-style counts.
func formatCount(_ n: Int) -> String {
    if n >= 1_000_000_000 { return String(format: "%.2fB", Double(n) / 1e9) }
    if n >= 1_000_000 { return String(format: "%.1fM", Double(n) / 1e6) }
    if n >= 1_000 { return String(format: "%.1fk", Double(n) / 1e3) }
    return "\(n)"
}
