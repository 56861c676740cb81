import Foundation
import TensorIO

extension GGUFFile: MetadataLookup {}

extension Checkpoint {
    /// Opens what `reference` names (see ``ModelReference``): a GGUF file or a safetensors
    /// directory, validated strictly.
    public static func open(_ reference: String) throws -> Checkpoint {
        let (url, format) = try ModelReference.resolve(reference)
        switch format {
        case .gguf: return try openGGUF(url)
        case .safetensors: return try openSafetensors(url)
        }
    }

    /// Opens a GGUF file (memory-mapped).
    public static func openGGUF(_ url: URL) throws -> Checkpoint {
        let file = try GGUFFile(url: url)
        let configuration = try ModelConfiguration(
            gguf: file, tensors: file.tensors, ropeFrequencies: { try file.floats("rope_freqs.weight") },
            origin: url.path)
        return try Checkpoint(url: url, format: .gguf, configuration: configuration, source: file)
    }
}
