import Foundation
import TensorCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds a GGUF version 3 file: metadata of any value type, and tensors encoded from `Float` in
/// any of ``DType/encodable`` (F32, F16, BF16 — round to nearest even — or the zero-keeping block
/// types Q8_0, Q4_0, Q5_0, Q6_K via ``quantize(_:as:)``) or given as raw bytes of any supported
/// type (for example quantized tensors copied unchanged from another `GGUFFile`).
///
/// Tensors are written in the order added, each at an offset that is a multiple of `alignment`.
/// `write(to:)` writes a temporary file beside the destination and renames it into place, so a
/// reader never sees a half-written file. Shapes are row-major, outermost first (the writer
/// reverses them into GGUF's fastest-first order).
public struct GGUFWriter: Sendable {
    /// Data alignment in bytes; written as `general.alignment` when it is not 32.
    public let alignment: Int
    /// Metadata in write order.
    public private(set) var metadata: [(key: String, value: GGUFValue)] = []
    private var tensors: [Pending] = []
    private var tensorNames: Set<String> = []

    private struct Pending: Sendable {
        var name: String
        var shape: [Int]
        var dtype: DType
        var byteCount: Int
        var payload: Payload
    }

    private enum Payload: Sendable {
        case bytes([UInt8])
        case floats([Float])
        case copy(GGUFFile, String)
        case deferred(@Sendable () throws -> [Float])
    }

    private static let origin = "(GGUF writer)"

    /// A writer with data alignment `alignment` (a power of two, default 32).
    public init(alignment: Int = GGUFFile.defaultAlignment) throws {
        guard alignment > 0, alignment & (alignment - 1) == 0, alignment <= Int(UInt32.max) else {
            throw GGUFError(.invalidAlignment, file: Self.origin, subject: "general.alignment",
                            expected: "a power of two", actual: "\(alignment)", hint: "use 32 (the default)")
        }
        self.alignment = alignment
    }

    /// Sets metadata `key` to `value`, replacing an earlier value in place.
    ///
    /// `general.alignment` is managed by the writer and cannot be set here.
    public mutating func set(_ key: String, _ value: GGUFValue) throws {
        guard key != "general.alignment" else {
            throw GGUFError(.invalidAlignment, file: Self.origin, subject: key, expected: "alignment given to init",
                            actual: "\(value)", hint: "pass the alignment to GGUFWriter(alignment:)")
        }
        guard value.isWellFormed else {
            throw GGUFError(.invalidValueType, file: Self.origin, subject: key,
                            expected: "array elements of the array's element type", actual: "\(value)",
                            hint: "build arrays whose elements all have the declared type")
        }
        if let index = metadata.firstIndex(where: { $0.key == key }) {
            metadata[index].value = value
        } else {
            metadata.append((key, value))
        }
    }

    /// Adds a tensor of row-major `shape` from `values`, stored as `dtype` (one of ``DType/encodable``; a block type needs the last dimension to be a
    /// multiple of its block size).
    public mutating func addTensor(name: String, shape: [Int], floats values: [Float], as dtype: DType = .f32) throws {
        try Self.checkEncodable(dtype, name: name)
        let byteCount = try checkedByteCount(name: name, shape: shape, dtype: dtype, elements: values.count)
        append(Pending(name: name, shape: shape, dtype: dtype, byteCount: byteCount, payload: .floats(values)))
    }

    /// Adds a tensor of row-major `shape` whose values `values()` produces only when the file is
    /// written (one tensor in memory at a time), stored as `dtype` (one of ``DType/encodable``; a block type needs the last dimension to be a
    /// multiple of its block size).
    public mutating func addTensor(name: String, shape: [Int], as dtype: DType = .f32,
                                   values: @escaping @Sendable () throws -> [Float]) throws {
        try Self.checkEncodable(dtype, name: name)
        let byteCount = try checkedByteCount(name: name, shape: shape, dtype: dtype, elements: nil)
        append(Pending(name: name, shape: shape, dtype: dtype, byteCount: byteCount, payload: .deferred(values)))
    }

    /// Adds a tensor of row-major `shape` whose stored bytes (in `dtype`'s layout) are `bytes`.
    public mutating func addTensor(name: String, shape: [Int], dtype: DType, bytes: [UInt8]) throws {
        let byteCount = try checkedByteCount(name: name, shape: shape, dtype: dtype, elements: nil)
        guard bytes.count == byteCount else {
            throw GGUFError(.shapeMismatch, file: Self.origin, subject: name,
                            expected: "\(byteCount) bytes for \(dtype.rawValue) \(shape)", actual: "\(bytes.count) bytes",
                            hint: "pass the bytes of exactly this shape")
        }
        append(Pending(name: name, shape: shape, dtype: dtype, byteCount: byteCount, payload: .bytes(bytes)))
    }

    /// Adds tensor `name` of `source` unchanged (same type, shape and bytes), as `newName` if given.
    /// The bytes are copied from the mapping only when the file is written.
    public mutating func addTensor(copying name: String, from source: GGUFFile, as newName: String? = nil) throws {
        let info = try source.tensorInfo(name)
        let target = newName ?? name
        let byteCount = try checkedByteCount(name: target, shape: info.shape, dtype: info.dtype, elements: nil)
        append(Pending(name: target, shape: info.shape, dtype: info.dtype, byteCount: byteCount,
                       payload: .copy(source, name)))
    }

    private static func checkEncodable(_ dtype: DType, name: String) throws {
        guard DType.encodable.contains(dtype) else {
            throw GGUFError(.unknownType, file: Self.origin, subject: name,
                            expected: DType.encodable.map(\.rawValue).joined(separator: ", "),
                            actual: dtype.rawValue, hint: "other types are added as raw bytes")
        }
    }

    private mutating func append(_ tensor: Pending) {
        tensors.append(tensor)
        tensorNames.insert(tensor.name)
    }

    private func checkedByteCount(name: String, shape: [Int], dtype: DType, elements: Int?) throws -> Int {
        guard !tensorNames.contains(name) else {
            throw GGUFError(.duplicateTensor, file: Self.origin, subject: name, expected: "a new tensor name",
                            actual: "'\(name)' already added", hint: "tensor names must be unique")
        }
        guard (1 ... GGUFFile.maximumDimensions).contains(shape.count), shape.allSatisfy({ $0 >= 1 }),
              let last = shape.last, last % dtype.blockSize == 0 else {
            throw GGUFError(.shapeMismatch, file: Self.origin, subject: name,
                            expected: "1...4 positive dimensions, the last a multiple of \(dtype.blockSize)",
                            actual: "\(shape)", hint: "check the shape")
        }
        var count = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow else {
                throw GGUFError(.shapeMismatch, file: Self.origin, subject: name, expected: "a representable size",
                                actual: "\(shape)", hint: "check the shape")
            }
            count = product
        }
        if let elements, elements != count {
            throw GGUFError(.shapeMismatch, file: Self.origin, subject: name, expected: "\(count) values for \(shape)",
                            actual: "\(elements)", hint: "pass exactly one value per element")
        }
        guard let bytes = dtype.byteCount(elements: count) else {
            throw GGUFError(.shapeMismatch, file: Self.origin, subject: name, expected: "a representable size",
                            actual: "\(shape)", hint: "check the shape")
        }
        return bytes
    }
}

extension GGUFWriter {
    /// Writes the file to `url` atomically (temporary file in the same directory, then rename).
    public func write(to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0 ... .max)).tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil),
              let handle = try? FileHandle(forWritingTo: temporary) else {
            throw GGUFError(.io, file: url.path, actual: "cannot create \(temporary.path)",
                            hint: "check that the directory exists and is writable")
        }
        do {
            defer { try? handle.close() }
            try handle.write(contentsOf: header())
            for tensor in tensors {
                try writePayload(tensor, to: handle)
                let padding = (alignment - tensor.byteCount % alignment) % alignment
                if padding > 0 { try handle.write(contentsOf: Data(count: padding)) }
            }
            try handle.synchronize()
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            if let error = error as? GGUFError { throw error }
            throw GGUFError(.io, file: url.path, actual: "\(error)", hint: "check free disk space and permissions")
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw GGUFError(.io, file: url.path, actual: "rename failed: \(reason)", hint: "check permissions")
        }
    }

    /// Magic, version, counts, metadata, tensor infos and the padding up to the data section.
    private func header() -> Data {
        var out = GGUFEncoder()
        out.bytes.append(contentsOf: Array("GGUF".utf8))
        out.append(UInt32(3))
        out.append(UInt64(tensors.count))
        var entries = metadata
        if alignment != GGUFFile.defaultAlignment {
            entries.append(("general.alignment", .uint32(UInt32(alignment))))
        }
        out.append(UInt64(entries.count))
        for (key, value) in entries {
            out.append(key)
            out.append(value.type.rawValue)
            out.append(value)
        }
        var offset = 0
        for tensor in tensors {
            out.append(tensor.name)
            out.append(UInt32(tensor.shape.count))
            for dim in tensor.shape.reversed() { out.append(UInt64(dim)) }
            out.append(tensor.dtype.ggmlTypeID)
            out.append(UInt64(offset))
            offset += (tensor.byteCount + alignment - 1) / alignment * alignment
        }
        let padding = (alignment - out.bytes.count % alignment) % alignment
        out.bytes.append(contentsOf: repeatElement(0, count: padding))
        return Data(out.bytes)
    }

    private func writePayload(_ tensor: Pending, to handle: FileHandle) throws {
        switch tensor.payload {
        case .bytes(let bytes):
            try handle.write(contentsOf: Data(bytes))
        case .copy(let source, let name):
            let bytes = try source.rawBytes(name)
            guard bytes.count == tensor.byteCount else {
                throw GGUFError(.shapeMismatch, file: source.url.path, subject: name,
                                expected: "\(tensor.byteCount) bytes", actual: "\(bytes.count)", hint: "the source changed")
            }
            // Straight from the mapping, in chunks: no copy of the tensor (an 8B model's head is 0.4 GB).
            try withExtendedLifetime(source) {
                let chunk = 16 << 20
                for start in stride(from: 0, to: bytes.count, by: chunk) {
                    try handle.write(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start ..< min(bytes.count, start + chunk)]))
                }
            }
        case .deferred(let produce):
            let values = try produce()
            guard let bytes = tensor.dtype.byteCount(elements: values.count), bytes == tensor.byteCount else {
                throw GGUFError(.shapeMismatch, file: Self.origin, subject: tensor.name,
                                expected: "\(tensor.byteCount) bytes for \(tensor.shape)", actual: "\(values.count) values",
                                hint: "the value producer must return one value per element")
            }
            try writePayload(Pending(name: tensor.name, shape: tensor.shape, dtype: tensor.dtype, byteCount: tensor.byteCount,
                                     payload: .floats(values)), to: handle)
        case .floats(let values):
            if tensor.dtype.isQuantized, let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw GGUFError(.invalidValueType, file: Self.origin, subject: tensor.name, expected: "finite values to quantize",
                                actual: "\(values[bad]) at element \(bad)", hint: "store the tensor as F32 or F16, or fix the weights")
            }
            let chunk = 1 << 20
            var start = 0
            while start < values.count {
                let end = min(values.count, start + chunk)
                try handle.write(contentsOf: Self.encode(values[start ..< end], as: tensor.dtype))
                start = end
            }
        }
    }

    /// The stored bytes of `values` (a whole number of blocks) in `dtype`, one of ``DType/encodable``.
    static func encode(_ values: ArraySlice<Float>, as dtype: DType) -> Data {
        Data(quantize(Array(values), as: dtype))
    }
}

extension GGUFValue {
    /// Whether every array element (recursively) has its array's declared element type.
    var isWellFormed: Bool {
        guard case .array(let elementType, let elements) = self else { return true }
        return elements.allSatisfy { $0.type == elementType && $0.isWellFormed }
    }
}

/// Appends little-endian GGUF encodings to a byte buffer.
struct GGUFEncoder {
    var bytes: [UInt8] = []

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ string: String) {
        let utf8 = Array(string.utf8)
        append(UInt64(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    mutating func append(_ value: GGUFValue) {
        switch value {
        case .uint8(let v): append(v)
        case .int8(let v): append(v)
        case .uint16(let v): append(v)
        case .int16(let v): append(v)
        case .uint32(let v): append(v)
        case .int32(let v): append(v)
        case .uint64(let v): append(v)
        case .int64(let v): append(v)
        case .float32(let v): append(v.bitPattern)
        case .float64(let v): append(v.bitPattern)
        case .bool(let v): append(UInt8(v ? 1 : 0))
        case .string(let v): append(v)
        case .array(let elementType, let elements):
            append(elementType.rawValue)
            append(UInt64(elements.count))
            for element in elements { append(element) }
        }
    }
}
