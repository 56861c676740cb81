import Foundation
import TensorIO

/// The zeros of a checkpoint's block linears as stored: every linear is decoded (dequantized for
/// block types) and its exact zeros counted, so `dlp inspect` shows whether a pruning mask
/// survived the export (a type that adds a block offset, such as Q4_1, turns zeros into ±m). In
/// the block types a kept weight smaller than half its block's quantization step also decodes to
/// 0, so the count can exceed the pruning mask's (by 0.04 points for SmolLM2 at 70% in Q4_0).
public struct StoredSparsity: Sendable, Codable, Equatable {
    /// One block linear: its stored name and type, and zeros / elements after decoding.
    public struct Linear: Sendable, Codable, Equatable {
        public var name: String
        public var dtype: String
        public var zeros: Int
        public var count: Int
        public var sparsity: Double { Double(zeros) / Double(max(count, 1)) }
    }

    /// Every block linear, block by block in ``TensorRole/linears`` order.
    public var linears: [Linear]

    /// Zeros over elements across all block linears.
    public var overall: Double {
        Double(linears.reduce(0) { $0 + $1.zeros }) / Double(max(linears.reduce(0) { $0 + $1.count }, 1))
    }

    /// The least and the most sparse linear (first one on ties).
    public var least: Linear? { linears.min { $0.sparsity < $1.sparsity } }
    public var most: Linear? { linears.max { $0.sparsity < $1.sparsity } }

    /// Decodes and counts the block linears of `checkpoint`, one tensor in memory at a time.
    public init(_ checkpoint: Checkpoint) throws {
        let source = checkpoint.source
        var linears = [Linear]()
        for block in 0..<checkpoint.configuration.layerCount {
            for role in TensorRole.linears {
                let name = role.name(in: checkpoint.format, block: block)
                guard let info = source.info(name) else { continue }
                let values = try source.floats(name)
                var zeros = 0
                for value in values where value == 0 { zeros += 1 }
                linears.append(Linear(name: name, dtype: info.dtype.rawValue, zeros: zeros, count: values.count))
            }
        }
        self.linears = linears
    }
}
