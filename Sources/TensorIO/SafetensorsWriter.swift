import Foundation
import TensorCore

/// Writes safetensors files and Hugging Face checkpoint directories from `Float` values.
///
/// A file is laid out as the reference implementation does: the JSON header (compact, with
/// `__metadata__` first) is padded with spaces to a multiple of 8 bytes, and tensors are stored
/// back to back, largest element size first (stable within a size), so every tensor is aligned
/// to its element size. Values are narrowed to the tensor's dtype with round-to-nearest-even
/// (`HalfConversion`). F32, F16, BF16 and F64 tensors can be written.
///
/// Every file is written atomically (temporary file, `fsync`, rename). Tensors are requested from
/// the `values` closure one at a time while writing, in storage order, so exporting a large model
/// needs only one tensor's `Float` values in memory at once.
///
/// Metadata gets `"format": "pt"` unless it sets `format`: `transformers` refuses safetensors
/// files whose metadata lacks a known format.
public enum SafetensorsWriter {
    /// A tensor held in memory, stored as `info.dtype`.
    public struct Tensor: Sendable {
        /// Name, dtype to store, and shape.
        public var info: TensorInfo
        /// Row-major values, `info.elementCount` of them.
        public var values: [Float]

        public init(info: TensorInfo, values: [Float]) {
            self.info = info
            self.values = values
        }

        public init(name: String, dtype: DType, shape: [Int], values: [Float]) {
            self.init(info: TensorInfo(name: name, dtype: dtype, shape: shape), values: values)
        }
    }

    /// Writes `tensors` to one file at `url`.
    public static func write(_ tensors: [Tensor], metadata: [String: String] = [:], to url: URL) throws {
        let lookup = try inMemoryLookup(tensors)
        try write(tensors.map(\.info), metadata: metadata, to: url) { lookup[$0.name] ?? [] }
    }

    /// Writes the tensors of `plan` to one file at `url`, asking `values` for each tensor's
    /// row-major values (exactly `elementCount`) as it is written.
    public static func write(_ plan: [TensorInfo], metadata: [String: String] = [:], to url: URL,
                             values: (TensorInfo) throws -> [Float]) throws {
        let infos = Dictionary(plan.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var scratch: [UInt8] = []
        try writeFile(try entries(plan), metadata: metadata, to: url) { entry, output in
            guard let info = infos[entry.name] else { preconditionFailure("\(entry.name) is not in the plan") }
            let data = try values(info)
            guard data.count == info.elementCount else {
                throw SafetensorsError.invalidTensorForWriting(
                    tensor: info.name, detail: "\(data.count) values given for shape \(info.shape) (\(info.elementCount) elements)")
            }
            try writeEncoded(data, as: entry.dtype, to: output, scratch: &scratch)
        }
    }

    /// Writes `tensors` as a checkpoint directory; see the closure-based overload.
    @discardableResult
    public static func writeCheckpoint(_ tensors: [Tensor], metadata: [String: String] = [:], to directory: URL,
                                       maxShardBytes: Int, config: JSONValue? = nil) throws -> [String] {
        let lookup = try inMemoryLookup(tensors)
        return try writeCheckpoint(tensors.map(\.info), metadata: metadata, to: directory,
                                   maxShardBytes: maxShardBytes, config: config) { lookup[$0.name] ?? [] }
    }

    /// Writes a Hugging Face checkpoint directory (created if needed) and returns the file names
    /// written, in order.
    ///
    /// Tensors are packed greedily in `plan` order into shards of at most `maxShardBytes` bytes of
    /// tensor data (a tensor larger than that gets a shard of its own), as `transformers`'
    /// `save_pretrained(max_shard_size:)` does. One shard is written as `model.safetensors` with no
    /// index; several as `model-0000i-of-0000n.safetensors` plus `model.safetensors.index.json`
    /// (`metadata.total_size` and a name-sorted `weight_map`), written last. `config`, when
    /// given, is written as `config.json` (indented). Other files in the directory are left alone.
    @discardableResult
    public static func writeCheckpoint(_ plan: [TensorInfo], metadata: [String: String] = [:], to directory: URL,
                                       maxShardBytes: Int, config: JSONValue? = nil,
                                       values: (TensorInfo) throws -> [Float]) throws -> [String] {
        let entries = try entries(plan)
        let infos = Dictionary(plan.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        return try writeShards(entries, metadata: metadata, to: directory, maxShardBytes: maxShardBytes, config: config) { shard, url in
            try write(shard.compactMap { infos[$0.name] }, metadata: metadata, to: url, values: values)
        }
    }

    /// Splits `plan` into shards, writes each with `writeShard` and, for several, the index; see
    /// ``writeCheckpoint(_:metadata:to:maxShardBytes:config:values:)``.
    static func writeShards(_ plan: [Entry], metadata: [String: String], to directory: URL, maxShardBytes: Int,
                            config: JSONValue?, writeShard: ([Entry], URL) throws -> Void) throws -> [String] {
        guard maxShardBytes > 0 else {
            throw SafetensorsError.invalidTensorForWriting(tensor: "", detail: "maxShardBytes \(maxShardBytes) must be positive")
        }
        _ = try SafetensorsLayout(plan, metadata: metadata)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw SafetensorsError.writeFailed(file: directory.path, reason: error.localizedDescription)
        }
        var written: [String] = []
        if let config {
            let url = directory.appendingPathComponent(SafetensorsCheckpoint.configFileName)
            try writeText(config.serialized(pretty: true) + "\n", to: url)
            written.append(url.lastPathComponent)
        }
        let shards = shardPlan(plan, maxShardBytes: maxShardBytes)
        if shards.count <= 1 {
            let url = directory.appendingPathComponent(SafetensorsCheckpoint.singleFileName)
            try writeShard(plan, url)
            return written + [url.lastPathComponent]
        }
        var weightMap: [(String, String)] = []
        var totalSize = 0
        for (index, shard) in shards.enumerated() {
            let name = shardFileName(index + 1, of: shards.count)
            try writeShard(shard, directory.appendingPathComponent(name))
            written.append(name)
            for tensor in shard {
                weightMap.append((tensor.name, name))
                totalSize += tensor.byteCount ?? 0
            }
        }
        let index = JSONValue.object(JSONObject([
            ("metadata", .object(JSONObject([("total_size", .integer(totalSize))]))),
            ("weight_map", .object(JSONObject(weightMap.sorted { $0.0 < $1.0 }.map { ($0.0, JSONValue.string($0.1)) }))),
        ]))
        try writeText(index.serialized(pretty: true) + "\n", to: directory.appendingPathComponent(SafetensorsCheckpoint.indexFileName))
        return written + [SafetensorsCheckpoint.indexFileName]
    }

    /// `model-00002-of-00005.safetensors` (Hugging Face's shard naming).
    public static func shardFileName(_ number: Int, of count: Int) -> String {
        func padded(_ value: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, 5 - digits.count)) + digits
        }
        return "model-\(padded(number))-of-\(padded(count)).safetensors"
    }

    /// Greedy packing in order: start a new shard when the next tensor would push a non-empty
    /// shard past `maxShardBytes`.
    static func shardPlan(_ plan: [Entry], maxShardBytes: Int) -> [[Entry]] {
        var shards: [[Entry]] = []
        var current: [Entry] = []
        var currentBytes = 0
        for tensor in plan {
            let bytes = tensor.byteCount ?? 0
            if !current.isEmpty, currentBytes + bytes > maxShardBytes {
                shards.append(current)
                current = []
                currentBytes = 0
            }
            current.append(tensor)
            currentBytes += bytes
        }
        if !current.isEmpty { shards.append(current) }
        return shards
    }

    private static func inMemoryLookup(_ tensors: [Tensor]) throws(SafetensorsError) -> [String: [Float]] {
        var lookup: [String: [Float]] = [:]
        for tensor in tensors where lookup.updateValue(tensor.values, forKey: tensor.info.name) != nil {
            throw .invalidTensorForWriting(tensor: tensor.info.name, detail: "the name appears twice")
        }
        return lookup
    }

    static func writeText(_ text: String, to url: URL) throws(SafetensorsError) {
        let output = try SafetensorsAtomicFile(destination: url)
        defer { output.discard() }
        try output.write(Array(text.utf8))
        try output.commit()
    }

    /// Narrows `values` to `dtype`'s little-endian bytes in chunks and appends them to `output`.
    private static func writeEncoded(_ values: [Float], as dtype: SafetensorsDType, to output: SafetensorsAtomicFile,
                                     scratch: inout [UInt8]) throws(SafetensorsError) {
        let chunk = 1 << 16
        let size = dtype.elementSize
        if scratch.count < chunk * size { scratch = [UInt8](repeating: 0, count: chunk * size) }
        var start = 0
        while start < values.count {
            let count = min(chunk, values.count - start)
            scratch.withUnsafeMutableBytes { bytes in
                for index in 0..<count {
                    let value = values[start + index]
                    switch dtype {
                    case .f16:
                        bytes.storeBytes(of: HalfConversion.half(from: value).littleEndian, toByteOffset: index * 2, as: UInt16.self)
                    case .bf16:
                        bytes.storeBytes(of: HalfConversion.bfloat16(from: value).littleEndian, toByteOffset: index * 2, as: UInt16.self)
                    case .f64:
                        bytes.storeBytes(of: Double(value).bitPattern.littleEndian, toByteOffset: index * 8, as: UInt64.self)
                    default:
                        bytes.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: index * 4, as: UInt32.self)
                    }
                }
            }
            let result: Result<Void, SafetensorsError> = scratch.withUnsafeBytes { bytes in
                Result { () throws(SafetensorsError) in try output.write(UnsafeRawBufferPointer(rebasing: bytes[0..<(count * size)])) }
            }
            try result.get()
            start += count
        }
    }
}
