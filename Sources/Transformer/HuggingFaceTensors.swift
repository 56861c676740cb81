import Foundation
import TensorCore

/// The tensors of a Hugging Face export of a checkpoint, in the order the role table lists them,
/// with their values in Hugging Face row order: q/k rows (and biases) of a GGUF llama are
/// un-permuted (``QKRowPermutation``), the LM head is left out when tied. Block tensors come from
/// `weights(block)` (pruned ones, in the checkpoint's own q/k row order) when given, else from
/// the checkpoint. Shared by ``HuggingFaceExport`` (dense `hf/`) and ``SparseExport`` (`sparse/`).
///
/// The last block produced is kept, since a block's tensors are asked for one after another; one
/// block's weights are in memory at a time.
final class HuggingFaceTensors {
    /// One tensor of the export.
    struct Entry {
        let role: TensorRole
        let block: Int
        /// Hugging Face name.
        let name: String
        /// Row-major shape (``TensorRole/shape(_:)``).
        let shape: [Int]

        var elementCount: Int { shape.reduce(1, *) }
    }

    let checkpoint: Checkpoint
    /// The checkpoint's configuration with `layerCount` limited to the exported blocks.
    let configuration: ModelConfiguration
    let entries: [Entry]
    private let weights: ((Int) throws -> BlockWeights)?
    private let outputNorm: [Float]?
    private var cached: (Int, BlockWeights)?
    private let byName: [String: Entry]

    /// The export of `checkpoint`'s first `blockCount` blocks (all when nil), with `outputNorm`
    /// (a fine-tuned final norm gain) in place of the checkpoint's when given.
    init(_ checkpoint: Checkpoint, blockCount: Int? = nil, weights: ((Int) throws -> BlockWeights)?, outputNorm: [Float]? = nil) {
        var c = checkpoint.configuration
        c.layerCount = min(blockCount ?? c.layerCount, c.layerCount)
        self.checkpoint = checkpoint
        configuration = c
        self.weights = weights
        self.outputNorm = outputNorm
        entries = TensorRole.allCases.filter { $0.isPresent(in: c) }.flatMap { role in
            (role.isPerBlock ? Array(0..<c.layerCount) : [0]).map {
                Entry(role: role, block: $0, name: role.huggingFaceName(block: $0), shape: role.shape(c))
            }
        }
        byName = Dictionary(entries.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The entry named `name` (a Hugging Face name), if exported.
    func entry(_ name: String) -> Entry? { byName[name] }

    /// The values of `entry`, row-major `[Float]` of `entry.shape`, in Hugging Face row order.
    func values(_ entry: Entry) throws -> [Float] {
        var values: [Float]
        if entry.role.isPerBlock, let weights {
            if cached?.0 != entry.block { cached = (entry.block, try weights(entry.block)) }
            values = cached.map { $0.1.tensor(entry.role) } ?? []
        } else if entry.role == .outputNorm, let outputNorm {
            values = outputNorm
        } else {
            values = try checkpoint.tensor(entry.role, block: entry.block)
        }
        if checkpoint.rotaryConvention == .interleaved, [.query, .key, .queryBias, .keyBias].contains(entry.role) {
            let heads = (entry.role == .query || entry.role == .queryBias) ? configuration.headCount : configuration.keyValueHeadCount
            values = QKRowPermutation.toHuggingFace(values, heads: heads, columns: entry.shape.count == 2 ? entry.shape[1] : 1)
        }
        return values
    }

    /// `entry`'s values as a matrix `[rows, columns]` (a linear weight).
    func matrix(_ entry: Entry) throws -> Matrix {
        Matrix(rows: entry.shape[0], columns: entry.shape[1], storage: try values(entry))
    }
}
