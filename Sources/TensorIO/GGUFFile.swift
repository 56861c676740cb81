import Foundation
import TensorCore

/// A GGUF file (versions 2 and 3), memory-mapped read-only and validated on open.
///
/// Layout (all little-endian): magic `GGUF`, `uint32` version, `uint64` tensor count, `uint64`
/// metadata count, the metadata key/value pairs, the tensor infos (name, `uint32` dimension
/// count, `uint64` dimensions fastest-first, `uint32` ggml type, `uint64` offset), padding to
/// `general.alignment` (default 32), then the data section that the offsets are relative to.
///
/// Opening parses the header, every metadata value and every tensor info, and checks counts
/// against the remaining bytes before allocating, offsets, alignment, overlaps, shapes, types,
/// duplicates and UTF-8 (see `GGUFError.Kind`). Tensor data is not touched until it is decoded,
/// so opening a multi-gigabyte model is cheap.
public final class GGUFFile: TensorSource, Sendable {
    /// The file that was opened.
    public let url: URL
    /// Format version (2 or 3).
    public let version: Int
    /// Data alignment in bytes (`general.alignment`, default 32).
    public let alignment: Int
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Metadata values by key.
    public let metadata: [String: GGUFValue]
    /// Storage details of every tensor, in file order.
    public let tensorInfos: [GGUFTensorInfo]
    /// Every tensor with its row-major shape (outermost first), in file order.
    public let tensors: [TensorInfo]
    /// Absolute offset of the data section.
    public let dataOffset: Int

    private let mapping: GGUFMappedFile
    private let indexByName: [String: Int]

    /// The alignment used when a file has no `general.alignment`.
    public static let defaultAlignment = 32
    /// Most dimensions a GGUF tensor may have (ggml's `GGML_MAX_DIMS`).
    public static let maximumDimensions = 4

    /// Maps and validates the GGUF file at `url`; throws `GGUFError` for any malformed input.
    public init(url: URL) throws {
        self.url = url
        mapping = try GGUFMappedFile(url: url)
        let file = url.path
        var cursor = GGUFCursor(bytes: mapping.bytes, file: file)

        let magic = try cursor.read(UInt32.self, "magic")
        guard magic == 0x4655_4747 else {
            throw GGUFError(.badMagic, file: file, offset: 0, expected: "magic 'GGUF' (47 47 55 46)",
                            actual: String(format: "%08x", magic.byteSwapped),
                            hint: "this is not a GGUF file; pass a .gguf model")
        }
        let rawVersion = try cursor.read(UInt32.self, "version")
        guard rawVersion == 2 || rawVersion == 3 else {
            let hint = rawVersion > 0xFFFF
                ? "this looks like a big-endian GGUF; convert it to little-endian"
                : "version 1 and versions after 3 are not supported; re-convert with a current llama.cpp"
            throw GGUFError(.unsupportedVersion, file: file, offset: 4, expected: "version 2 or 3",
                            actual: "\(rawVersion)", hint: hint)
        }
        version = Int(rawVersion)
        // Smallest encodings: a tensor info with one dimension is 8 + 4 + 8 + 4 + 8 bytes; a key/value is 8 + 4 + 1.
        let tensorCount = try cursor.readCount("tensor count", minimumSize: 32)
        let keyCount = try cursor.readCount("metadata count", minimumSize: 13)

        var keys: [String] = []
        var values: [String: GGUFValue] = [:]
        keys.reserveCapacity(keyCount)
        for _ in 0 ..< keyCount {
            let at = cursor.position
            let key = try cursor.readString("metadata key")
            let type = try cursor.readValueType(key: key)
            let value = try cursor.readValue(type, key: key)
            guard values[key] == nil else {
                throw GGUFError(.duplicateKey, file: file, subject: key, offset: at, expected: "unique metadata keys",
                                actual: "a second '\(key)'", hint: "the file is corrupt; regenerate it")
            }
            keys.append(key)
            values[key] = value
        }
        metadataKeys = keys
        metadata = values
        alignment = try Self.alignment(values["general.alignment"], file: file)

        var raw: [(name: String, dims: [Int], typeID: UInt32, offset: UInt64, at: Int)] = []
        raw.reserveCapacity(tensorCount)
        var seen: Set<String> = []
        for _ in 0 ..< tensorCount {
            let at = cursor.position
            let name = try cursor.readString("tensor name")
            guard seen.insert(name).inserted else {
                throw GGUFError(.duplicateTensor, file: file, subject: name, offset: at, expected: "unique tensor names",
                                actual: "a second '\(name)'", hint: "the file is corrupt; regenerate it")
            }
            let dimCount = try cursor.read(UInt32.self, "dimension count", subject: name)
            guard (1 ... UInt32(Self.maximumDimensions)).contains(dimCount) else {
                throw GGUFError(.shapeMismatch, file: file, subject: name, offset: cursor.position - 4,
                                expected: "1...\(Self.maximumDimensions) dimensions", actual: "\(dimCount)",
                                hint: "the file is corrupt or uses tensors ggml cannot represent")
            }
            var dims: [Int] = []
            for axis in 0 ..< Int(dimCount) {
                let dim = try cursor.read(UInt64.self, "dimension \(axis)", subject: name)
                guard dim >= 1, dim <= UInt64(Int64.max) else {
                    throw GGUFError(.shapeMismatch, file: file, subject: name, offset: cursor.position - 8,
                                    expected: "dimension \(axis) ≥ 1", actual: "\(Int64(bitPattern: dim))",
                                    hint: "the file is corrupt; zero or negative dimensions are not allowed")
                }
                dims.append(Int(dim))
            }
            let typeID = try cursor.read(UInt32.self, "ggml type", subject: name)
            let offset = try cursor.read(UInt64.self, "data offset", subject: name)
            raw.append((name, dims, typeID, offset, at))
        }

        let (alignedEnd, overflow) = cursor.position.addingReportingOverflow(alignment - 1)
        let dataStart = overflow ? Int.max : alignedEnd / alignment * alignment
        dataOffset = dataStart
        let dataSize = max(0, mapping.bytes.count - dataStart)

        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(raw.count)
        for entry in raw {
            infos.append(try Self.validate(entry, alignment: alignment, dataStart: dataStart, dataSize: dataSize,
                                           file: file))
        }
        try Self.checkOverlaps(infos, file: file)
        tensorInfos = infos
        tensors = infos.map { TensorInfo(name: $0.name, dtype: $0.dtype, shape: $0.shape) }
        indexByName = Dictionary(uniqueKeysWithValues: infos.enumerated().map { ($1.name, $0) })
    }

    private static func alignment(_ value: GGUFValue?, file: String) throws -> Int {
        guard let value else { return defaultAlignment }
        guard case .uint32(let raw) = value, raw > 0, raw & (raw - 1) == 0 else {
            throw GGUFError(.invalidAlignment, file: file, subject: "general.alignment",
                            expected: "a uint32 power of two", actual: "\(value)",
                            hint: "fix or remove general.alignment (the default is 32)")
        }
        return Int(raw)
    }

    private static func validate(_ entry: (name: String, dims: [Int], typeID: UInt32, offset: UInt64, at: Int),
                                 alignment: Int, dataStart: Int, dataSize: Int, file: String) throws -> GGUFTensorInfo {
        let name = entry.name
        guard let dtype = DType(ggmlTypeID: entry.typeID) else {
            throw GGUFError(.unknownType, file: file, subject: name, offset: entry.at,
                            expected: "one of F32 F16 BF16 F64 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K Q5_K Q6_K",
                            actual: GGMLTypeNames.name(entry.typeID),
                            hint: "re-quantize the model to a supported type")
        }
        guard entry.dims[0] % dtype.blockSize == 0 else {
            throw GGUFError(.shapeMismatch, file: file, subject: name, offset: entry.at,
                            expected: "row length (dimension 0) a multiple of \(dtype.rawValue)'s block of \(dtype.blockSize)",
                            actual: "\(entry.dims[0])", hint: "the file is corrupt")
        }
        var elements = 1
        for dim in entry.dims {
            let (product, overflow) = elements.multipliedReportingOverflow(by: dim)
            guard !overflow else {
                throw GGUFError(.shapeMismatch, file: file, subject: name, offset: entry.at,
                                expected: "an element count that fits in 64 bits", actual: "dimensions \(entry.dims)",
                                hint: "the file is corrupt")
            }
            elements = product
        }
        guard let byteCount = dtype.byteCount(elements: elements) else {
            throw GGUFError(.shapeMismatch, file: file, subject: name, offset: entry.at,
                            expected: "a byte size that fits in 64 bits", actual: "\(elements) \(dtype.rawValue) elements",
                            hint: "the file is corrupt")
        }
        guard entry.offset % UInt64(alignment) == 0 else {
            throw GGUFError(.misalignedOffset, file: file, subject: name, offset: entry.at,
                            expected: "a data offset that is a multiple of \(alignment)", actual: "\(entry.offset)",
                            hint: "the file is corrupt or was written with a different general.alignment")
        }
        guard entry.offset <= UInt64(dataSize), byteCount <= dataSize - Int(entry.offset) else {
            throw GGUFError(.offsetOutOfBounds, file: file, subject: name, offset: entry.at,
                            expected: "\(byteCount) data bytes at data offset \(entry.offset)",
                            actual: "a data section of \(dataSize) bytes (starting at byte \(dataStart))",
                            hint: "the file is truncated; fetch it again")
        }
        let relative = Int(entry.offset)
        return GGUFTensorInfo(name: name, dimensions: entry.dims, ggmlTypeID: entry.typeID, dtype: dtype,
                              relativeOffset: relative, fileOffset: dataStart + relative, byteCount: byteCount)
    }

    private static func checkOverlaps(_ infos: [GGUFTensorInfo], file: String) throws {
        let sorted = infos.sorted { $0.relativeOffset < $1.relativeOffset }
        for (previous, next) in zip(sorted, sorted.dropFirst())
        where previous.relativeOffset + previous.byteCount > next.relativeOffset {
            throw GGUFError(.overlappingTensors, file: file, subject: next.name, offset: next.fileOffset,
                            expected: "data starting at or after byte \(previous.fileOffset + previous.byteCount) (end of '\(previous.name)')",
                            actual: "data starting at byte \(next.fileOffset)",
                            hint: "the file is corrupt; tensors must not share bytes")
        }
    }
}

extension GGUFFile {
    /// The storage details of tensor `name`.
    public func tensorInfo(_ name: String) throws -> GGUFTensorInfo {
        guard let index = indexByName[name] else {
            throw GGUFError(.tensorNotFound, file: url.path, subject: name, expected: "a tensor named '\(name)'",
                            actual: "\(tensorInfos.count) other tensors",
                            hint: "list the tensors with `dlp inspect`; names follow llama.cpp (blk.N.attn_q.weight)")
        }
        return tensorInfos[index]
    }

    /// The stored bytes of tensor `name`, straight from the mapping.
    ///
    /// The buffer is valid only while this `GGUFFile` is alive; prefer `withRawBytes` where possible.
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let info = try tensorInfo(name)
        if let now = mapping.currentSizeIfShrunk() {
            throw GGUFError(.truncated, file: url.path, subject: name, offset: now,
                            expected: "the \(mapping.bytes.count) bytes the file had when it was opened", actual: "\(now) bytes now",
                            hint: "another process truncated or rewrote the file while dlp was reading it; wait for it to finish and run again")
        }
        return UnsafeRawBufferPointer(rebasing: mapping.bytes[info.fileOffset ..< info.fileOffset + info.byteCount])
    }

    /// Calls `body` with the stored bytes of tensor `name`.
    public func withRawBytes<R>(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let bytes = try rawBytes(name)
        return try withExtendedLifetime(self) { try body(bytes) }
    }

    /// Decodes tensor `name` to row-major `Float` values.
    public func floats(_ name: String) throws -> [Float] {
        let info = try tensorInfo(name)
        return try [Float](unsafeUninitializedCapacity: info.elementCount) { buffer, initialized in
            try floats(name, into: buffer)
            initialized = info.elementCount
        }
    }

    /// A GGUF file decodes single rows from its mapping.
    public var decodesRows: Bool { true }

    /// Decodes row `r` of the 2-D tensor `name` (`columns` values a row, a whole number of the
    /// type's blocks) from the mapping on each call. Throws when `columns` does not cut the tensor
    /// into rows of whole blocks.
    public func rowDecoder(_ name: String, columns: Int) throws -> (@Sendable (Int, UnsafeMutablePointer<Float>) -> Void)? {
        let info = try tensorInfo(name)
        let dtype = info.dtype
        guard columns > 0, columns % dtype.blockSize == 0, info.elementCount % columns == 0 else {
            throw GGUFError(.shapeMismatch, file: url.path, subject: name, expected: "rows of whole \(dtype) blocks",
                            actual: "\(columns) columns", hint: "decode the whole tensor instead")
        }
        let rows = info.elementCount / columns, rowBytes = columns / dtype.blockSize * dtype.bytesPerBlock
        let bytes = try rawBytes(name)
        let base = UInt(bitPattern: bytes.baseAddress), count = bytes.count
        return { r, out in
            precondition(r >= 0 && r < rows, "row \(r) of \(rows)")
            // The file (and its mapping) lives as long as this decoder holds it.
            withExtendedLifetime(self) {
                let row = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: base)! + r * rowBytes,
                                                 count: min(rowBytes, count - r * rowBytes))
                dequantize(dtype, bytes: row, count: columns, into: out)
            }
        }
    }

    /// Decodes tensor `name` into `destination`, which must hold exactly its element count.
    public func floats(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        let info = try tensorInfo(name)
        guard destination.count == info.elementCount, let out = destination.baseAddress else {
            throw GGUFError(.shapeMismatch, file: url.path, subject: name, expected: "\(info.elementCount) floats",
                            actual: "a destination of \(destination.count)", hint: "size the buffer from `info(name)`")
        }
        try withRawBytes(name) { bytes in
            dequantize(info.dtype, bytes: bytes, count: info.elementCount, into: out)
        }
    }
}
