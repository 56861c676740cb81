import Foundation
import TensorCore
import TensorIO

/// Writes a model as GGUF with the tensor names, order and metadata of the GGUF it came from,
/// so llama.cpp-style loaders accept it. Block linears come from `weights(block)` (pruned ones,
/// in the checkpoint's own q/k row order) stored as `dtype`; every other tensor is copied byte
/// for byte (quantized embeddings stay quantized). One block's weights are in memory at a time.
///
/// `dtype` must keep an exact zero (``TensorIO/DType/encodable``: F32, F16, BF16, Q8_0, Q4_0,
/// Q5_0, Q6_K), so the pruning mask survives in the file. A linear whose row (input) length is
/// not a multiple of `dtype`'s block is stored in the first type of llama.cpp's fallback chain
/// whose block divides it — Q6_K → Q8_0 → F16, Q8_0/Q4_0/Q5_0 → F16 — as `llama-quantize` does
/// (SmolLM2's 576-wide rows cannot hold Q6_K's 256-value blocks); ``linearTypes(_:dtype:)``
/// lists those tensors.
public enum GGUFExport {
    /// Keys describing how the file was produced, added to the copied metadata.
    public static func provenanceKeys(_ values: [String: String]) -> [(String, GGUFValue)] {
        values.sorted { $0.key < $1.key }.map { ("dlp.\($0.key)", GGUFValue.string($0.value)) }
    }

    /// The type a linear of row length `rowLength` is stored in when `requested` is asked for:
    /// `requested` if its block divides the row, else the next of Q8_0, F16 whose block does.
    public static func linearType(_ requested: DType, rowLength: Int) -> DType {
        let chain: [DType] = switch requested.blockSize {
        case 1: [requested]
        case 32: [requested, .f16]
        default: [requested, .q8_0, .f16]
        }
        return chain.first { rowLength % $0.blockSize == 0 } ?? .f16
    }

    /// The block linears of `checkpoint` that cannot be stored as `dtype` (row length not a
    /// multiple of its block), by GGUF tensor name, with the type they are stored in instead.
    public static func linearTypes(_ checkpoint: Checkpoint, dtype: DType) throws -> [String: DType] {
        var fallbacks = [String: DType]()
        for info in try source(of: checkpoint).tensors where linearNames(checkpoint).contains(info.name) {
            let type = linearType(dtype, rowLength: info.shape.last ?? 0)
            if type != dtype { fallbacks[info.name] = type }
        }
        return fallbacks
    }

    private static func source(of checkpoint: Checkpoint) throws -> GGUFFile {
        guard checkpoint.format == .gguf, let source = checkpoint.source as? GGUFFile else {
            throw ModelError.invalidValue(key: "export format", value: "gguf", origin: checkpoint.url.path,
                                          reason: "GGUF export needs a GGUF input (its metadata and vocabulary are copied); export safetensors instead")
        }
        return source
    }

    private static func linearNames(_ checkpoint: Checkpoint) -> Set<String> {
        Set((0..<checkpoint.configuration.layerCount).flatMap { block in TensorRole.linears.map { $0.ggufName(block: block) } })
    }

    /// Writes the GGUF; returns the linears stored in a fallback type (see ``linearTypes(_:dtype:)``).
    /// `outputNorm` replaces the final norm gain (a fine-tuned one, stored F32).
    ///
    /// - Throws: ``ModelError`` for a non-GGUF input or a `dtype` that does not keep zeros,
    ///   `GGUFError` from writing.
    @discardableResult
    public static func write(_ checkpoint: Checkpoint, to url: URL, dtype: DType = .f32, provenance: [String: String] = [:],
                             outputNorm: [Float]? = nil,
                             weights: @escaping @Sendable (Int) throws -> BlockWeights) throws -> [String: DType] {
        let source = try source(of: checkpoint)
        guard DType.encodable.contains(dtype) else {
            throw ModelError.invalidValue(key: "GGUF linear type", value: dtype.rawValue, origin: url.path,
                                          reason: "pruned linears are written only in types that keep zeros: \(DType.encodable.map(\.rawValue).joined(separator: ", "))")
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
        var fallbacks = [String: DType]()
        for info in source.tensors {
            if let (role, block) = linearOf[info.name] {
                let type = linearType(dtype, rowLength: info.shape.last ?? 0)
                if type != dtype { fallbacks[info.name] = type }
                try writer.addTensor(name: info.name, shape: info.shape, as: type) {
                    try cache.block(block)[linear: role].storage
                }
            } else if info.name == TensorRole.outputNorm.ggufName(), let outputNorm {
                try writer.addTensor(name: info.name, shape: info.shape, as: .f32) { outputNorm }
            } else {
                try writer.addTensor(copying: info.name, from: source)
            }
        }
        try writer.write(to: url)
        return fallbacks
    }

    /// Keeps the last block produced, since a block's seven linears are written one after another;
    /// it is let go before the next block is produced, so one block is in memory at a time.
    final class BlockCache: @unchecked Sendable {
        private let produce: @Sendable (Int) throws -> BlockWeights
        private var last: (Int, BlockWeights)?
        private let lock = NSLock()

        init(_ produce: @escaping @Sendable (Int) throws -> BlockWeights) { self.produce = produce }

        func block(_ index: Int) throws -> BlockWeights {
            lock.lock()
            defer { lock.unlock() }
            if let last, last.0 == index { return last.1 }
            last = nil
            let weights = try produce(index)
            last = (index, weights)
            return weights
        }
    }
}
