import Foundation
import TensorIO

/// A `config.json` read through dotted keys: `rope_scaling.factor` is member `factor` of the
/// object `rope_scaling`.
struct JSONConfiguration: MetadataLookup {
    let root: JSONValue

    func value(_ key: String) -> JSONValue? {
        var current: JSONValue? = root
        for part in key.split(separator: ".") { current = current?[String(part)] }
        return current.flatMap { $0.isNull ? nil : $0 }
    }

    func int(_ key: String) -> Int? { value(key)?.intValue }
    func float(_ key: String) -> Float? { value(key)?.doubleValue.map(Float.init) }
    func string(_ key: String) -> String? { value(key)?.stringValue }
    func bool(_ key: String) -> Bool? { value(key)?.boolValue }
    func contains(_ key: String) -> Bool { value(key) != nil }
}

extension Checkpoint {
    /// Opens a Hugging Face directory: `config.json` plus `model.safetensors` or a sharded
    /// `model.safetensors.index.json` (memory-mapped). A directory whose `config.json` declares the
    /// compressed-tensors sparse-bitmask layout (a `dlp prune` output's `sparse/`) is read through
    /// ``SparseBitmaskSource``: its weights decode to dense `Float` like any other, and
    /// ``sparseLinear(_:block:)`` hands them out sparse (with quantized values also
    /// ``quantizedLinear(_:block:)``, exactly as stored). Another `quantization_config` is an error
    /// naming what is supported.
    public static func openSafetensors(_ url: URL) throws -> Checkpoint {
        let directory = try SafetensorsCheckpoint(directory: url)
        let origin = url.appendingPathComponent(SafetensorsCheckpoint.configFileName).path
        let layout = try SparseBitmaskFormat.declaredLayout(in: directory.configJSON, file: origin)
        let configuration = try ModelConfiguration(huggingFace: JSONConfiguration(root: directory.configJSON), origin: origin)
        let source: any TensorSource = try layout.map { try SparseBitmaskSource(directory, quantized: $0.quantized) } ?? directory
        return try Checkpoint(url: url, format: .safetensors, configuration: configuration, source: source)
    }
}
