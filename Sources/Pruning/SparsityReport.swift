import TensorCore
import Transformer

/// Measured sparsity (exact zeros) of the block linears: per matrix, per block and overall
/// (DLP-METHOD §2: embeddings, LM head and norms are not counted). `Codable` for the manifest.
public struct SparsityReport: Sendable, Equatable, Codable {
    /// Zeros of one matrix.
    public struct Entry: Sendable, Equatable, Codable {
        public var block: Int
        public var role: TensorRole
        public var zeros: Int
        public var count: Int
        /// `zeros / count`.
        public var sparsity: Double { count == 0 ? 0 : Double(zeros) / Double(count) }
    }

    /// One entry per (block, linear), in block then ``TensorRole/linears`` order.
    public var entries: [Entry]

    /// Measures `blocks` (block `l` is `blocks[l]`).
    public static func measure(_ blocks: [BlockWeights]) -> SparsityReport {
        var entries: [Entry] = []
        for (l, block) in blocks.enumerated() {
            for role in TensorRole.linears {
                let w = block[linear: role]
                entries.append(Entry(block: l, role: role, zeros: zeroCount(w), count: w.count))
            }
        }
        return SparsityReport(entries: entries)
    }

    /// Exact zeros (`±0`) of a matrix.
    public static func zeroCount(_ w: Matrix) -> Int { w.storage.reduce(0) { $0 + ($1 == 0 ? 1 : 0) } }

    /// Sparsity of block `l` over its seven linears (weighted by size).
    public func blockSparsity(_ l: Int) -> Double {
        let own = entries.filter { $0.block == l }
        let count = own.reduce(0) { $0 + $1.count }
        return count == 0 ? 0 : Double(own.reduce(0) { $0 + $1.zeros }) / Double(count)
    }

    /// Per-block sparsity, in block order. `[L]`
    public var blockSparsities: [Double] {
        let blocks = (entries.map(\.block).max() ?? -1) + 1
        return (0..<blocks).map(blockSparsity)
    }

    /// Sparsity over all block linears.
    public var overall: Double {
        let count = entries.reduce(0) { $0 + $1.count }
        return count == 0 ? 0 : Double(entries.reduce(0) { $0 + $1.zeros }) / Double(count)
    }
}
