import Foundation
import TensorCore
import Transformer

/// Pruned block linears kept on disk while a run goes on, so memory holds one block at a time
/// whatever the model size: block `l`'s seven linears are written as raw little-endian Float32
/// (in ``TensorRole/linears`` order) to `directory/block-l.f32` and read back for export.
public final class PrunedWeightStore: @unchecked Sendable {
    public let directory: URL
    let checkpoint: Checkpoint

    /// A store in `directory` (created) for blocks of `checkpoint`.
    public init(directory: URL, checkpoint: Checkpoint) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.directory = directory
        self.checkpoint = checkpoint
    }

    func url(_ block: Int) -> URL { directory.appendingPathComponent("block-\(block).f32") }

    /// Saves the seven linears of `weights` as block `block`.
    public func save(_ weights: BlockWeights, block: Int) throws {
        var data = Data()
        for role in TensorRole.linears {
            weights[linear: role].storage.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        try data.write(to: url(block), options: .atomic)
    }

    /// Whether block `block` has been saved.
    public func contains(_ block: Int) -> Bool { FileManager.default.fileExists(atPath: url(block).path) }

    /// Block `block` as pruned: norms and biases from the checkpoint, linears from the store.
    public func load(_ block: Int) throws -> BlockWeights {
        var weights = try checkpoint.block(block)
        let data = try Data(contentsOf: url(block), options: .mappedIfSafe)
        var offset = 0
        for role in TensorRole.linears {
            var matrix = weights[linear: role]
            let bytes = matrix.count * MemoryLayout<Float>.size
            guard offset + bytes <= data.count else {
                throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: url(block).path])
            }
            matrix.storage.withUnsafeMutableBytes { _ = data.copyBytes(to: $0, from: offset..<(offset + bytes)) }
            weights[linear: role] = matrix
            offset += bytes
        }
        return weights
    }

    /// Deletes the store's files.
    public func remove() { try? FileManager.default.removeItem(at: directory) }
}
