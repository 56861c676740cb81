/// A bounds-checked little-endian reader over the mapped bytes of a GGUF file.
///
/// Every read checks the remaining length first and throws `GGUFError` (never traps); lengths read
/// from the file are compared with the remaining bytes before anything is allocated.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let file: String
    private(set) var position = 0

    init(bytes: UnsafeRawBufferPointer, file: String) {
        self.bytes = bytes
        self.file = file
    }

    /// Bytes left after the current position.
    var remaining: Int { bytes.count - position }

    /// Advances past `count` bytes and returns where they start; throws `.truncated` naming `what`.
    mutating func take(_ count: Int, _ what: @autoclosure () -> String, subject: String? = nil) throws -> Int {
        guard count >= 0, count <= remaining else {
            throw GGUFError(.truncated, file: file, subject: subject, offset: position,
                            expected: "\(count) bytes for \(what())", actual: "\(remaining) bytes left",
                            hint: "the file is cut short; the download or copy was interrupted, fetch it again")
        }
        let start = position
        position += count
        return start
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String,
                                             subject: String? = nil) throws -> T {
        let start = try take(MemoryLayout<T>.size, what(), subject: subject)
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: start, as: T.self))
    }

    /// Reads a `uint64` length or count that must fit in `Int` and, at `minimumSize` bytes per
    /// item, in the remaining bytes.
    mutating func readCount(_ what: String, minimumSize: Int, subject: String? = nil) throws -> Int {
        let at = position
        let raw = try read(UInt64.self, what, subject: subject)
        let limit = minimumSize > 0 ? remaining / minimumSize : remaining
        guard raw <= UInt64(limit) else {
            throw GGUFError(.countTooLarge, file: file, subject: subject, offset: at,
                            expected: "\(what) at most \(limit) (\(remaining) bytes left, \(minimumSize) per item)",
                            actual: "\(raw)", hint: "the file is corrupt or not a GGUF file")
        }
        return Int(raw)
    }

    /// Reads a GGUF string: `uint64` byte length, then that many bytes of UTF-8.
    mutating func readString(_ what: String, subject: String? = nil) throws -> String {
        let length = try readCount("\(what) length", minimumSize: 1, subject: subject)
        let start = try take(length, what, subject: subject)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[start ..< start + length])
        guard let string = String(validating: slice, as: UTF8.self) else {
            throw GGUFError(.invalidUTF8, file: file, subject: subject, offset: start,
                            expected: "valid UTF-8 for \(what)", actual: "\(length) bytes that are not UTF-8",
                            hint: "the file is corrupt; regenerate it")
        }
        return string
    }

    /// Deepest array nesting accepted (real files nest at most once).
    static let maximumArrayDepth = 8

    /// Reads one metadata value of type `type` for key `key`.
    mutating func readValue(_ type: GGUFValueType, key: String, depth: Int = 0) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try read(UInt8.self, "uint8 value", subject: key))
        case .int8: return .int8(try read(Int8.self, "int8 value", subject: key))
        case .uint16: return .uint16(try read(UInt16.self, "uint16 value", subject: key))
        case .int16: return .int16(try read(Int16.self, "int16 value", subject: key))
        case .uint32: return .uint32(try read(UInt32.self, "uint32 value", subject: key))
        case .int32: return .int32(try read(Int32.self, "int32 value", subject: key))
        case .uint64: return .uint64(try read(UInt64.self, "uint64 value", subject: key))
        case .int64: return .int64(try read(Int64.self, "int64 value", subject: key))
        case .float32: return .float32(Float(bitPattern: try read(UInt32.self, "float32 value", subject: key)))
        case .float64: return .float64(Double(bitPattern: try read(UInt64.self, "float64 value", subject: key)))
        case .bool:
            let at = position
            let raw = try read(UInt8.self, "bool value", subject: key)
            guard raw <= 1 else {
                throw GGUFError(.invalidValueType, file: file, subject: key, offset: at, expected: "bool 0 or 1",
                                actual: "\(raw)", hint: "the file is corrupt; regenerate it")
            }
            return .bool(raw == 1)
        case .string: return .string(try readString("string value", subject: key))
        case .array:
            let elementType = try readValueType(key: key)
            if elementType == .array && depth + 1 >= Self.maximumArrayDepth {
                throw GGUFError(.invalidValueType, file: file, subject: key, offset: position - 4,
                                expected: "arrays nested at most \(Self.maximumArrayDepth) deep",
                                actual: "deeper nesting", hint: "the file is corrupt or hostile")
            }
            let count = try readCount("array length", minimumSize: elementType.minimumSize, subject: key)
            var elements: [GGUFValue] = []
            // The count is bounded by the file size; reserving lazily keeps a hostile count from
            // reserving memory for values that are never parsed.
            elements.reserveCapacity(min(count, 1 << 16))
            for _ in 0 ..< count {
                elements.append(try readValue(elementType, key: key, depth: depth + 1))
            }
            return .array(elementType, elements)
        }
    }

    /// Reads a `uint32` value type id.
    mutating func readValueType(key: String) throws -> GGUFValueType {
        let at = position
        let raw = try read(UInt32.self, "value type", subject: key)
        guard let type = GGUFValueType(rawValue: raw) else {
            throw GGUFError(.invalidValueType, file: file, subject: key, offset: at, expected: "value type 0...12",
                            actual: "\(raw)", hint: "the file is corrupt or uses a newer GGUF revision")
        }
        return type
    }
}
