import Foundation
import Kernels
import TensorIO

/// What `dlp inspect` reports about a checkpoint.
public struct ModelSummary: Sendable, Codable {
    public var path: String
    public var format: CheckpointFormat
    public var name: String?
    public var architecture: Architecture
    public var layerCount: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var headCount: Int
    public var keyValueHeadCount: Int
    public var headDimension: Int
    public var vocabularySize: Int
    public var tiedEmbeddings: Bool
    public var ropeTheta: Float
    /// Rescaled rotary frequencies (LLaMA 3.1's `rope_freqs`, linear scaling); nil without scaling
    /// (and in summaries written before it was recorded).
    public var ropeScaling: RotaryScaling?
    public var rotaryConvention: String
    public var rmsNormEpsilon: Float
    public var contextLength: Int
    /// Stored tensors per element type, e.g. `["Q4_1": 210, "F32": 61]`.
    public var tensorTypes: [String: Int]
    public var tensorCount: Int
    /// Weights stored in the compressed-tensors sparse-bitmask layout (nil for a dense checkpoint).
    public var sparseBitmaskWeights: Int?
    /// Parameters of the stored tensors the architecture uses (a tied head counted once).
    public var parameterCount: Int
    /// Parameters of the block linears, the weights pruning acts on.
    public var prunableParameterCount: Int
    public var fileBytes: Int
    /// Peak memory estimate of a SparseGPT pruning run (its Hessians counted; the LM head not:
    /// no `--evaluate`) with `calibrationSamples × calibrationSequenceLength`.
    public var pruningMemory: MemoryEstimate
    public var pruningMemoryBytes: Int
    /// The same for Wanda and magnitude (no Hessians; the scores of one linear); nil in summaries
    /// written before it was recorded.
    public var scoreMaskPruningMemory: MemoryEstimate?
    /// What `--evaluate` adds to those estimates: the decoded embedding (when rows are otherwise
    /// decoded per token) and the untied LM head; nil in summaries written before it was recorded.
    public var evaluationMemoryBytes: Int?
    public var calibrationSamples: Int
    public var calibrationSequenceLength: Int
    /// Zeros of the block linears as stored (nil unless asked for: it decodes every linear).
    public var storedSparsity: StoredSparsity?

    /// Summarises `checkpoint`, estimating memory for the given calibration size.
    public init(_ checkpoint: Checkpoint, calibrationSamples: Int = 128, calibrationSequenceLength: Int = 2048) {
        let c = checkpoint.configuration
        path = checkpoint.url.path
        format = checkpoint.format
        name = (checkpoint.source as? GGUFFile)?.string("general.name")
        architecture = c.architecture
        layerCount = c.layerCount
        hiddenSize = c.hiddenSize
        intermediateSize = c.intermediateSize
        headCount = c.headCount
        keyValueHeadCount = c.keyValueHeadCount
        headDimension = c.headDimension
        vocabularySize = c.vocabularySize
        tiedEmbeddings = c.tiedEmbeddings
        ropeTheta = c.ropeTheta
        ropeScaling = c.ropeScaling == .none ? nil : c.ropeScaling
        rotaryConvention = checkpoint.rotaryConvention.rawValue
        rmsNormEpsilon = c.rmsNormEpsilon
        contextLength = c.contextLength
        var types = [String: Int]()
        for t in checkpoint.source.tensors { types[t.dtype.rawValue, default: 0] += 1 }
        tensorTypes = types
        tensorCount = checkpoint.source.tensors.count
        sparseBitmaskWeights = (checkpoint.source as? SparseBitmaskSource)?.compressedWeights.count
        let used = Set(TensorRole.allCases.filter { $0.isPresent(in: c) }.flatMap { role in
            (role.isPerBlock ? Array(0..<c.layerCount) : [0]).map { role.name(in: checkpoint.format, block: $0) }
        })
        parameterCount = checkpoint.source.tensors.filter { used.contains($0.name) }.reduce(0) { $0 + $1.elementCount }
        prunableParameterCount = c.layerCount * c.linearParametersPerBlock
        fileBytes = Self.diskSize(checkpoint.url)
        pruningMemory = MemoryEstimate(configuration: c, samples: calibrationSamples, sequenceLength: calibrationSequenceLength,
                                       mappedModelBytes: fileBytes, hessians: true, scores: false, decodesHead: false,
                                       embeddingRows: checkpoint.source.decodesRows)
        pruningMemoryBytes = pruningMemory.total
        scoreMaskPruningMemory = MemoryEstimate(configuration: c, samples: calibrationSamples,
                                                sequenceLength: calibrationSequenceLength, mappedModelBytes: fileBytes,
                                                hessians: false, scores: true, decodesHead: false,
                                                embeddingRows: checkpoint.source.decodesRows)
        evaluationMemoryBytes = MemoryEstimate(configuration: c, samples: calibrationSamples,
                                               sequenceLength: calibrationSequenceLength, mappedModelBytes: fileBytes,
                                               hessians: true, scores: false, decodesHead: true,
                                               embeddingRows: checkpoint.source.decodesRows).total - pruningMemory.total
        self.calibrationSamples = calibrationSamples
        self.calibrationSequenceLength = calibrationSequenceLength
    }

    /// Size of a file, or of the regular files directly inside a directory.
    public static func diskSize(_ url: URL) -> Int {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return 0 }
        let files = isDirectory.boolValue
            ? ((try? fm.contentsOfDirectory(at: url, includingPropertiesForKeys: nil)) ?? [])
            : [url]
        return files.reduce(0) { total, file in
            total + (((try? fm.attributesOfItem(atPath: file.path))?[.size] as? NSNumber)?.intValue ?? 0)
        }
    }
}
