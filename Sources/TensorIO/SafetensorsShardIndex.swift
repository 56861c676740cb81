/// `model.safetensors.index.json` of a sharded checkpoint, parsed and checked without touching
/// the shards: `{"weight_map": {"model.norm.weight": "model-00002-of-00002.safetensors", ...}}`.
///
/// Each value must be a plain file name in the checkpoint directory (no `/`, not `.` or `..`).
/// ``locate(shardTensors:)`` then cross-checks the index against what the shards hold.
public struct SafetensorsShardIndex: Sendable {
    /// The index file, for messages.
    public let path: String
    /// `weight_map` in file order: tensor name and the shard listed for it.
    public let listed: [(tensor: String, shard: String)]
    /// The distinct shard names, sorted (numeric order for Hugging Face names).
    public let shardNames: [String]

    /// Parses the index file's bytes; `path` is the file, for messages.
    public init(bytes: [UInt8], path: String) throws(SafetensorsError) {
        self.path = path
        let index: JSONValue
        do {
            index = try JSONValue.parse(bytes)
        } catch {
            throw .invalidIndex(file: path, detail: error.description)
        }
        guard index.objectValue != nil else { throw .invalidIndex(file: path, detail: "top level is \(index.kindName), not an object") }
        guard let weightMap = index["weight_map"]?.objectValue else { throw .invalidIndex(file: path, detail: "no \"weight_map\" object") }
        var listed: [(tensor: String, shard: String)] = []
        for (tensor, value) in weightMap.members {
            guard let shard = value.stringValue else {
                throw .invalidIndex(file: path, detail: "weight_map[\"\(tensor)\"] is \(value.kindName), not a file name")
            }
            guard !shard.isEmpty, !shard.contains("/"), shard != ".", shard != ".." else {
                throw .invalidIndex(file: path, detail: "weight_map[\"\(tensor)\"] = \"\(shard)\" is not a file name in the directory")
            }
            listed.append((tensor, shard))
        }
        self.listed = listed
        shardNames = Set(listed.map(\.shard)).sorted()
    }

    /// Cross-checks the index against the shards' contents: `shardTensors[i]` names the tensors
    /// stored in shard ``shardNames``[i]. No tensor may be stored twice, every listed tensor must
    /// be in its listed shard and every stored tensor must be listed. Returns tensor name → shard
    /// position in ``shardNames``.
    public func locate(shardTensors: [[String]]) throws(SafetensorsError) -> [String: Int] {
        precondition(shardTensors.count == shardNames.count, "one tensor list per shard")
        var location: [String: Int] = [:]
        for (shard, names) in shardTensors.enumerated() {
            for name in names {
                if let other = location.updateValue(shard, forKey: name) {
                    throw .duplicateAcrossShards(tensor: name, firstShard: shardNames[other], secondShard: shardNames[shard])
                }
            }
        }
        var listedNames = Set<String>()
        for (tensor, shard) in listed {
            listedNames.insert(tensor)
            guard let actual = location[tensor] else { throw .tensorMissingFromShard(index: path, tensor: tensor, shard: shard) }
            guard shardNames[actual] == shard else {
                throw .tensorInWrongShard(index: path, tensor: tensor, listedShard: shard, actualShard: shardNames[actual])
            }
        }
        for (shard, names) in shardTensors.enumerated() {
            for name in names where !listedNames.contains(name) {
                throw .tensorNotInIndex(index: path, tensor: name, shard: shardNames[shard])
            }
        }
        return location
    }
}
