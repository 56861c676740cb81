import Foundation
import Kernels
import Sparse
import TensorCore
import TensorIO

/// A validated model checkpoint: its configuration plus on-demand access to its tensors.
///
/// Opening checks every tensor against the role table (strict loading: a missing tensor, a
/// wrong shape or an unknown leftover tensor is an error). Weights stay in the memory-mapped file
/// and are decoded to `Float` one block at a time, so models larger than RAM in `Float` can be
/// processed block by block.
public final class Checkpoint: Sendable {
    /// The file or directory the checkpoint was read from.
    public let url: URL
    public let format: CheckpointFormat
    public let configuration: ModelConfiguration
    /// The rotary convention of the q/k rows as stored.
    public let rotaryConvention: RotaryConvention
    /// The underlying tensors.
    public let source: any TensorSource

    /// Tensors that may be present without a role: per-block inverse-frequency buffers of old
    /// Hugging Face checkpoints (recomputed), GGUF's `rope_freqs.weight` (read into the
    /// configuration) and a stored copy of a tied LM head.
    static func isAllowedExtra(_ name: String, format: CheckpointFormat, configuration: ModelConfiguration) -> Bool {
        switch format {
        case .gguf: return name == "rope_freqs.weight"
        case .safetensors:
            return (name.hasPrefix("model.layers.") && name.hasSuffix(".self_attn.rotary_emb.inv_freq"))
                || (configuration.tiedEmbeddings && name == TensorRole.output.huggingFaceName())
        }
    }

    /// Wraps `source` after checking that it holds exactly the tensors `configuration` implies.
    public init(url: URL, format: CheckpointFormat, configuration: ModelConfiguration, source: any TensorSource) throws {
        self.url = url
        self.format = format
        self.configuration = configuration
        self.source = source
        self.rotaryConvention = (format == .gguf && configuration.architecture == .llama) ? .interleaved : .halfSplit
        let sparse = source as? SparseBitmaskSource
        try Self.verifyTensors(source.tensors, format: format, configuration: configuration, origin: url.path,
                               storedShape: { sparse?.shapeTensor(of: $0) })
    }

    /// Strict check of names and shapes against the role table. A weight stored compressed
    /// (``SparseBitmaskSource``) is listed as its dense `X.weight`: its four stored tensors stand
    /// in for it, and `storedShape` names the `X.shape` tensor (and its file) whose value a wrong
    /// shape is reported against.
    static func verifyTensors(_ tensors: [TensorInfo], format: CheckpointFormat, configuration c: ModelConfiguration,
                              origin: String, storedShape: (String) -> (name: String, file: String)? = { _ in nil }) throws {
        var byName = [String: TensorInfo]()
        for t in tensors { byName[t.name] = t }
        var expected = Set<String>()
        for role in TensorRole.allCases where role.isPresent(in: c) {
            for block in role.isPerBlock ? Array(0..<c.layerCount) : [0] {
                let name = role.name(in: format, block: block)
                expected.insert(name)
                guard let info = byName[name] else { throw ModelError.missingTensor(name: name, origin: origin) }
                if info.shape != role.shape(c) {
                    let (reported, file) = storedShape(name) ?? (name, origin)
                    throw ModelError.shapeMismatch(name: reported, expected: role.shape(c), actual: info.shape, origin: file)
                }
            }
        }
        let extra = tensors.map(\.name).filter { !expected.contains($0) && !isAllowedExtra($0, format: format, configuration: c) }
        if !extra.isEmpty { throw ModelError.unexpectedTensors(names: extra, origin: origin) }
    }

    /// Decodes one tensor by role. `[Float]` in the row-major shape ``TensorRole/shape(_:)``.
    public func tensor(_ role: TensorRole, block: Int = 0) throws -> [Float] {
        try source.floats(role.name(in: format, block: block))
    }

    private func matrix(_ role: TensorRole, block: Int) throws -> Matrix {
        let shape = role.shape(configuration)
        return Matrix(rows: shape[0], columns: shape[1], storage: try tensor(role, block: block))
    }

    /// Decodes block `index` (q/k rows in this checkpoint's ``rotaryConvention``).
    public func block(_ index: Int) throws -> BlockWeights {
        precondition(index >= 0 && index < configuration.layerCount, "block \(index) out of range")
        let bias = configuration.architecture.hasAttentionBias
        return BlockWeights(
            attentionNorm: try tensor(.attentionNorm, block: index),
            query: try matrix(.query, block: index),
            key: try matrix(.key, block: index),
            value: try matrix(.value, block: index),
            attentionOutput: try matrix(.attentionOutput, block: index),
            queryBias: bias ? try tensor(.queryBias, block: index) : nil,
            keyBias: bias ? try tensor(.keyBias, block: index) : nil,
            valueBias: bias ? try tensor(.valueBias, block: index) : nil,
            feedForwardNorm: try tensor(.feedForwardNorm, block: index),
            gate: try matrix(.gate, block: index),
            up: try matrix(.up, block: index),
            down: try matrix(.down, block: index))
    }

    /// Block linear `role` of block `block` as stored in a sparse-bitmask checkpoint (a `dlp prune`
    /// output's `sparse/`), without densifying: `[out, in]`, q/k rows in this checkpoint's
    /// ``rotaryConvention`` (Hugging Face's halves), values in the stored value type. Nil when the
    /// weight is stored dense (every weight of a GGUF file or an uncompressed safetensors directory).
    /// A bitmask that disagrees with its row offsets or value count throws
    /// ``SparseCheckpointError/damaged(file:error:)``.
    public func sparseLinear(_ role: TensorRole, block: Int) throws -> SparseMatrix? {
        precondition(TensorRole.linears.contains(role), "\(role) is not a block linear")
        precondition(block >= 0 && block < configuration.layerCount, "block \(block) out of range")
        guard let sparse = source as? SparseBitmaskSource else { return nil }
        return try sparse.sparseMatrix(role.name(in: format, block: block))
    }

    /// Whether the checkpoint stores weights in the sparse-bitmask layout.
    public var isSparse: Bool { source is SparseBitmaskSource }

    /// The token embedding matrix. `[V, D]`
    public func tokenEmbedding() throws -> Matrix { try matrix(.tokenEmbedding, block: 0) }

    /// The LM head: the token embedding when tied. `[V, D]`
    public func outputHead() throws -> Matrix {
        try matrix(configuration.tiedEmbeddings ? .tokenEmbedding : .output, block: 0)
    }

    /// The final norm weight. `[D]`
    public func outputNorm() throws -> [Float] { try tensor(.outputNorm) }
}
