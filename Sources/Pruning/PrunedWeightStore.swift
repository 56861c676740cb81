import Foundation
import TensorCore
import Transformer
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

    /// Saves the seven linears of `weights` as block `block`: each matrix is written from its own
    /// storage into a temporary file renamed into place, so saving needs no block-sized buffer
    /// (LLaMA-7B: 0.8 GB) beside the block.
    public func save(_ weights: BlockWeights, block: Int) throws {
        let destination = url(block)
        let temporary = directory.appendingPathComponent(".block-\(block).f32.tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary.path])
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            do {
                for role in TensorRole.linears {
                    try weights[linear: role].storage.withUnsafeBytes { try handle.write(contentsOf: $0) }
                }
            } catch {
                try? handle.close()
                throw error
            }
            try handle.close()
            guard rename(temporary.path, destination.path) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: destination.path,
                                                             NSLocalizedDescriptionKey: String(cString: strerror(errno))])
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            // FileHandle's errors do not name the file; the message of a full disk should.
            let ns = error as NSError
            guard ns.userInfo[NSFilePathErrorKey] == nil else { throw error }
            throw NSError(domain: ns.domain, code: ns.code,
                          userInfo: ns.userInfo.merging([NSFilePathErrorKey: destination.path]) { kept, _ in kept })
        }
    }

    /// Whether block `block` has been saved.
    public func contains(_ block: Int) -> Bool { FileManager.default.fileExists(atPath: url(block).path) }

    /// Block `block` as pruned: norms and biases from the checkpoint, linears read from the store
    /// straight into their matrices (memory: the block once; the checkpoint's own linears are not
    /// decoded).
    public func load(_ block: Int) throws -> BlockWeights {
        let c = checkpoint.configuration
        let path = url(block).path
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        defer { close(descriptor) }
        var linears = [TensorRole: Matrix]()
        for role in TensorRole.linears {
            let shape = role.shape(c)
            var matrix = Matrix(rows: shape[0], columns: shape[1])
            let complete = matrix.storage.withUnsafeMutableBytes { buffer -> Bool in
                var done = 0
                while done < buffer.count {
                    let n = read(descriptor, buffer.baseAddress! + done, buffer.count - done)
                    if n <= 0 { return false }
                    done += n
                }
                return true
            }
            guard complete else { throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: path]) }
            linears[role] = matrix
        }
        let bias = c.architecture.hasAttentionBias
        return BlockWeights(
            attentionNorm: try checkpoint.tensor(.attentionNorm, block: block),
            query: linears[.query]!, key: linears[.key]!, value: linears[.value]!, attentionOutput: linears[.attentionOutput]!,
            queryBias: bias ? try checkpoint.tensor(.queryBias, block: block) : nil,
            keyBias: bias ? try checkpoint.tensor(.keyBias, block: block) : nil,
            valueBias: bias ? try checkpoint.tensor(.valueBias, block: block) : nil,
            feedForwardNorm: try checkpoint.tensor(.feedForwardNorm, block: block),
            gate: linears[.gate]!, up: linears[.up]!, down: linears[.down]!)
    }

    /// Deletes the store's files.
    public func remove() { try? FileManager.default.removeItem(at: directory) }
}
