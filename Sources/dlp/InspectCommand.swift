import Foundation
import Jobs
import Transformer

/// `dlp inspect MODEL [--json]`: what a checkpoint holds and what pruning it would need.
struct InspectCommand: Command {
    static let name = "inspect"
    static let summary = "describe a model: architecture, sizes, tensor types, memory"
    static let synopsis = "usage: dlp inspect MODEL [--samples N] [--seqlen T] [--json]"
    static let samples = Option("--samples", "N", "calibration sequences for the memory estimate (default 128)")
    static let seqlen = Option("--seqlen", "T", "calibration sequence length for the memory estimate (default 2048)")
    static let options = [modelArgument, samples, seqlen, jsonOption]
    let model: String
    let samples: Int
    let sequenceLength: Int
    let json: Bool

    init(arguments: inout Arguments) throws {
        json = arguments.flag(jsonOption)
        samples = try arguments.value(Self.samples, positiveInt) ?? 128
        sequenceLength = try arguments.value(Self.seqlen, positiveInt) ?? 2048
        model = try arguments.positional(modelArgument)
    }

    func run() throws {
        let checkpoint = try Checkpoint.open(model)
        let summary = ModelSummary(checkpoint, calibrationSamples: samples, calibrationSequenceLength: sequenceLength)
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
              rotary            θ = \(s.ropeTheta), \(s.rotaryConvention) pairs; RMSNorm ε = \(s.rmsNormEpsilon); context \(s.contextLength)
              parameters        \(formatCount(s.parameterCount)) (\(formatCount(s.prunableParameterCount)) in block linears, prunable)
              pruning memory    \(formatBytes(s.pruningMemoryBytes)) for \(s.calibrationSamples) × \(s.calibrationSequenceLength) calibration tokens:
                                activations \(formatBytes(m.calibrationActivations)), scratch \(formatBytes(m.forwardScratch)), \
            block weights \(formatBytes(m.blockWeights)), Hessians \(formatBytes(m.hessians)), embedding \(formatBytes(m.embedding))\(m.head > 0 ? ", LM head \(formatBytes(m.head))" : ""),
                                mapped model file \(formatBytes(m.mappedModel)), runtime \(formatBytes(m.runtime)); export \(formatBytes(m.export)) after calibration
            """
    }
}

/// `134.5M`-style counts.
func formatCount(_ n: Int) -> String {
    if n >= 1_000_000_000 { return String(format: "%.2fB", Double(n) / 1e9) }
    if n >= 1_000_000 { return String(format: "%.1fM", Double(n) / 1e6) }
    if n >= 1_000 { return String(format: "%.1fk", Double(n) / 1e3) }
    return "\(n)"
}
