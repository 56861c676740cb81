import Foundation
import TensorCore

extension SafetensorsWriter {
    /// A tensor as a safetensors file stores it: name, element type and shape. Any dtype of
    /// ``SafetensorsDType``, integer ones included (the `U8` bitmasks and `I64` offsets of a
    /// sparse checkpoint); its data is handed to the writer as little-endian bytes.
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var dtype: SafetensorsDType
        /// Row-major shape, outermost first; `[]` is a scalar.
        public var shape: [Int]

        public init(name: String, dtype: SafetensorsDType, shape: [Int]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
        }

        /// Product of the dimensions (1 for a scalar).
        public var elementCount: Int { shape.reduce(1, *) }

        /// Stored size, `elementSize × elements`, or nil for a negative dimension or an overflow.
        public var byteCount: Int? {
            var bytes: Int? = dtype.elementSize
            for dim in shape {
                guard let current = bytes, dim >= 0 else { return nil }
                let (product, overflow) = current.multipliedReportingOverflow(by: dim)
                bytes = overflow ? nil : product
            }
            return bytes
        }
    }

    /// Writes the tensors of `plan` to one file at `url`, asking `bytes` for each tensor's stored
    /// bytes (little-endian, exactly ``Entry/byteCount`` of them) as it is written.
    public static func write(entries plan: [Entry], metadata: [String: String] = [:], to url: URL,
                             bytes: (Entry) throws -> [UInt8]) throws {
        try writeFile(plan, metadata: metadata, to: url) { entry, output in
            let data = try bytes(entry)
            guard data.count == entry.byteCount else {
                throw SafetensorsError.invalidTensorForWriting(
                    tensor: entry.name,
                    detail: "\(data.count) bytes given for \(entry.dtype.rawValue) \(entry.shape) (\(entry.byteCount ?? 0) bytes)")
            }
            try output.write(data)
        }
    }

    /// Writes a checkpoint directory from stored bytes, sharded and indexed as
    /// ``writeCheckpoint(_:metadata:to:maxShardBytes:config:values:)`` does.
    @discardableResult
    public static func writeCheckpoint(entries plan: [Entry], metadata: [String: String] = [:], to directory: URL,
                                       maxShardBytes: Int, config: JSONValue? = nil,
                                       bytes: (Entry) throws -> [UInt8]) throws -> [String] {
        try writeShards(plan, metadata: metadata, to: directory, maxShardBytes: maxShardBytes, config: config) { shard, url in
            try write(entries: shard, metadata: metadata, to: url, bytes: bytes)
        }
    }

    /// The little-endian bytes of `values` narrowed to `dtype` (F32, F16, BF16 or F64) with
    /// round-to-nearest-even, as the float writer stores them.
    public static func bytes(_ values: [Float], as dtype: SafetensorsDType) -> [UInt8] {
        precondition(dtype.floatDType != nil, "\(dtype.rawValue) is not a float type")
        var out = [UInt8](repeating: 0, count: values.count * dtype.elementSize)
        out.withUnsafeMutableBytes { bytes in
            for (index, value) in values.enumerated() {
                switch dtype {
                case .f16: bytes.storeBytes(of: HalfConversion.half(from: value).littleEndian, toByteOffset: index * 2, as: UInt16.self)
                case .bf16: bytes.storeBytes(of: HalfConversion.bfloat16(from: value).littleEndian, toByteOffset: index * 2, as: UInt16.self)
                case .f64: bytes.storeBytes(of: Double(value).bitPattern.littleEndian, toByteOffset: index * 8, as: UInt64.self)
                default: bytes.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: index * 4, as: UInt32.self)
                }
            }
        }
        return out
    }

    /// The little-endian bytes of `values` (an `I64` tensor).
    public static func bytes(_ values: [Int64]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count * 8)
        out.withUnsafeMutableBytes { bytes in
            for (index, value) in values.enumerated() { bytes.storeBytes(of: value.littleEndian, toByteOffset: index * 8, as: Int64.self) }
        }
        return out
    }

    /// The float plan as entries; a dtype safetensors cannot hold (a quantized GGUF type) is an error.
    static func entries(_ plan: [TensorInfo]) throws(SafetensorsError) -> [Entry] {
        var entries: [Entry] = []
        entries.reserveCapacity(plan.count)
        for tensor in plan {
            guard let dtype = SafetensorsDType(tensor.dtype) else {
                throw .invalidTensorForWriting(tensor: tensor.name, detail: "dtype \(tensor.dtype.rawValue) cannot be stored; use F32, F16, BF16 or F64")
            }
            entries.append(Entry(name: tensor.name, dtype: dtype, shape: tensor.shape))
        }
        return entries
    }

    /// Lays `plan` out, writes the header, then each tensor's data through `body` (in storage
    /// order), and commits the file atomically.
    static func writeFile(_ plan: [Entry], metadata: [String: String], to url: URL,
                          body: (Entry, SafetensorsAtomicFile) throws -> Void) throws {
        let layout = try SafetensorsLayout(plan, metadata: metadata)
        let output = try SafetensorsAtomicFile(destination: url)
        defer { output.discard() }
        try output.write(layout.headerBytes)
        for tensor in layout.tensors { try body(tensor, output) }
        try output.commit()
    }
}
