import Foundation

/// A Hugging Face checkpoint directory: `config.json` plus safetensors weights, either one
/// `model.safetensors` or shards listed by `model.safetensors.index.json`.
///
/// The index maps each tensor name to its shard (`{"weight_map": {"model.norm.weight":
/// "model-00002-of-00002.safetensors", ...}}`). Loading is strict: every shard named must exist,
/// every listed tensor must be in its listed shard, no tensor may be stored twice, and every
/// stored tensor must be listed. When both `model.safetensors` and an index exist, the single
/// file wins (as `transformers` does).
public struct SafetensorsCheckpoint: TensorSource {
    /// Name of the single-file weights.
    public static let singleFileName = "model.safetensors"
    /// Name of the shard index.
    public static let indexFileName = "model.safetensors.index.json"
    /// Name of the model configuration.
    public static let configFileName = "config.json"

    /// The checkpoint directory.
    public let directory: URL
    /// The parsed `config.json` (always an `.object`), e.g. `configJSON["hidden_size"]?.intValue`.
    public let configJSON: JSONValue
    /// The weight files in order (shard names sorted, which is numeric order for HF names).
    public let files: [SafetensorsFile]
    /// Float tensors of all files: files in order, each in file order.
    public let tensors: [TensorInfo]

    /// Tensor name → index into `files`.
    private let location: [String: Int]

    /// Opens and validates the checkpoint in `directory`.
    public init(directory: URL) throws(SafetensorsError) {
        self.directory = directory
        let configURL = directory.appendingPathComponent(Self.configFileName)
        guard FileManager.default.fileExists(atPath: configURL.path) else { throw .missingConfig(directory: directory.path) }
        configJSON = try Self.readJSONObject(configURL) { .invalidConfig(file: configURL.path, detail: $0) }

        let singleURL = directory.appendingPathComponent(Self.singleFileName)
        let indexURL = directory.appendingPathComponent(Self.indexFileName)
        if FileManager.default.fileExists(atPath: singleURL.path) {
            let file = try SafetensorsFile(url: singleURL)
            files = [file]
            location = Dictionary(file.entries.map { ($0.name, 0) }, uniquingKeysWith: { first, _ in first })
        } else if FileManager.default.fileExists(atPath: indexURL.path) {
            (files, location) = try Self.openShards(indexURL: indexURL, directory: directory)
        } else {
            throw .missingWeights(directory: directory.path)
        }
        tensors = files.flatMap(\.tensors)
    }

    /// The file holding tensor `name`, if any.
    public func file(containing name: String) -> SafetensorsFile? {
        location[name].map { files[$0] }
    }

    /// Decodes tensor `name` from whichever shard holds it.
    public func floats(_ name: String) throws(SafetensorsError) -> [Float] {
        guard let file = file(containing: name) else { throw .tensorNotFound(file: directory.path, tensor: name) }
        return try file.floats(name)
    }

    /// Decodes tensor `name` into `destination` (exactly `elementCount` values); see
    /// `SafetensorsFile.decode(_:into:)`.
    public func decode(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws(SafetensorsError) {
        guard let file = file(containing: name) else { throw .tensorNotFound(file: directory.path, tensor: name) }
        try file.decode(name, into: destination)
    }

    /// Reads the index (``SafetensorsShardIndex``), opens each shard once and cross-checks index
    /// against shard contents.
    private static func openShards(indexURL: URL, directory: URL) throws(SafetensorsError) -> ([SafetensorsFile], [String: Int]) {
        let indexPath = indexURL.path
        let bytes: [UInt8]
        do {
            bytes = Array(try Data(contentsOf: indexURL))
        } catch {
            throw .invalidIndex(file: indexPath, detail: "cannot read: \(error.localizedDescription)")
        }
        let index = try SafetensorsShardIndex(bytes: bytes, path: indexPath)
        var files: [SafetensorsFile] = []
        for shard in index.shardNames {
            let url = directory.appendingPathComponent(shard)
            guard FileManager.default.fileExists(atPath: url.path) else {
                let tensor = index.listed.first { $0.shard == shard }?.tensor ?? ""
                throw .missingShard(index: indexPath, shard: shard, tensor: tensor)
            }
            files.append(try SafetensorsFile(url: url))
        }
        let location = try index.locate(shardTensors: files.map { $0.entries.map(\.name) })
        return (files, location)
    }

    /// Reads `url` as a JSON object; `invalid` builds the error for an unreadable or non-object file.
    private static func readJSONObject(_ url: URL,
                                       invalid: (String) -> SafetensorsError) throws(SafetensorsError) -> JSONValue {
        let bytes: [UInt8]
        do {
            bytes = Array(try Data(contentsOf: url))
        } catch {
            throw invalid("cannot read: \(error.localizedDescription)")
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw invalid(error.description)
        }
        guard value.objectValue != nil else { throw invalid("top level is \(value.kindName), not an object") }
        return value
    }
}
