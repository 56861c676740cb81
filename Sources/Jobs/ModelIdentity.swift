import Foundation
import TensorIO
import Transformer

/// The identity of a checkpoint: the sha256 of the file that holds it, recorded in manifests and
/// part of every allocation cache key.
public enum ModelIdentity {
    /// The file whose digest identifies a checkpoint: the GGUF file, or a safetensors directory's
    /// single file or shard index.
    public static func file(_ checkpoint: Checkpoint) -> URL {
        guard checkpoint.format == .safetensors else { return checkpoint.url }
        let index = checkpoint.url.appendingPathComponent(SafetensorsCheckpoint.indexFileName)
        let single = checkpoint.url.appendingPathComponent(SafetensorsCheckpoint.singleFileName)
        return FileManager.default.fileExists(atPath: single.path) ? single : index
    }

    /// sha256 of ``file(_:)``, lowercase hex.
    public static func sha256(_ checkpoint: Checkpoint) throws -> String {
        try SHA256Digest.file(file(checkpoint))
    }
}
