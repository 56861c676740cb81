import Foundation
import TensorCore
import TensorIO

/// Writes a model as GGUF with the tensor names, order and metadata of the GGUF it came from,
/// so llama.cpp-style loaders accept it. Block linears come from `weights(block)` (pruned ones,
/// in the checkpoint's own q/k row order) stored as `dtype`; every other tensor is copied byte
/// for byte (quantized embeddings stay quantized). One block's weights are in memory at a time.
public enum GGUFExport {
    /// Keys describing how the file was produced, added to the copied metadata.
    public static func provenanceKeys(_ values: [String: String]) -> [(String, GGUFValue)] {
        values.sorted { $0.key < $1.key }.map { ("dlp.\($0.key)", GGUFValue.string($0.value)) }
    }

    public static func write(_ checkpoint: Checkpoint, to url: URL, dtype: DType = .f32, provenance: [String: String] = [:],
                             weights: @escaping @Sendable (Int) throws -> BlockWeights) throws {
        guard checkpoint.format == .gguf, let source = checkpoint.source as? GGUFFile else {
            throw ModelError.invalidValue(key: "export format", value: "gguf", origin: checkpoint.url.path,
                                          reason: "GGUF export needs a GGUF input (its metadata and vocabulary are copied); export safetensors instead")
        }
        var writer = try GGUFWriter(alignment: source.alignment)
        for key in source.metadataKeys where key != "general.alignment" {
            if let value = source.metadata[key] { try writer.set(key, value) }
        }
        for (key, value) in provenanceKeys(provenance) { try writer.set(key, value) }
        var linearOf = [String: (TensorRole, Int)]()
        for block in 0..<checkpoint.configuration.layerCount {
            for role in TensorRole.linears { linearOf[role.ggufName(block: block)] = (role, block) }
        }
        let cache = BlockCache(weights)
        for info in source.tensors {
            if let (role, block) = linearOf[info.name] {
                try writer.addTensor(name: info.name, shape: info.shape, as: dtype) {
                    try cache.block(block)[linear: role].storage
                }
            } else {
                try writer.addTensor(copying: info.name, from: source)
            }
        }
        try writer.write(to: url)
    }

    /// Keeps the last block produced, since a block's seven linears are written one after another.
    final class BlockCache: @unchecked Sendable {
        private let produce: @Sendable (Int) throws -> BlockWeights
        private var last: (Int, BlockWeights)?
        private let lock = NSLock()

        init(_ produce: @escaping @Sendable (Int) throws -> BlockWeights) { self.produce = produce }

        func block(_ index: Int) throws -> BlockWeights {
            lock.lock()
            defer { lock.unlock() }
            if let last, last.0 == index { return last.1 }
            let weights = try produce(index)
            last = (index, weights)
            return weights
        }
    }
}
