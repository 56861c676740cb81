/// Type ids of GGUF metadata values, as stored in the file.
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Encoded size of one value of a fixed-size type; `nil` for strings and arrays.
    public var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string, .array: return nil
        }
    }

    /// The fewest bytes one encoded value of this type takes (a string or array needs its
    /// 8-byte length; an array also its 4-byte element type).
    var minimumSize: Int {
        switch self {
        case .string: return 8
        case .array: return 12
        default: return fixedSize ?? 1
        }
    }
}

/// One GGUF metadata value.
///
/// Arrays carry their element type so that an empty array can be written back unchanged; their
/// elements all have that type (nested arrays are `.array` elements).
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String)
    case array(GGUFValueType, [GGUFValue])
    case uint64(UInt64), int64(Int64), float64(Double)

    /// The stored type id.
    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .float32: return .float32
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        case .uint64: return .uint64
        case .int64: return .int64
        case .float64: return .float64
        }
    }

    /// Any integer type as `Int`; `nil` for other types or a `uint64` above `Int.max`.
    public var int: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// A float or integer value as `Double`; `nil` for strings, bools and arrays.
    public var float: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return int.map(Double.init)
        }
    }

    /// The string value; `nil` for other types.
    public var string: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    /// The bool value; `nil` for other types.
    public var bool: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    /// The elements of an array; `nil` for other types.
    public var array: [GGUFValue]? {
        if case .array(_, let v) = self { return v }
        return nil
    }

    /// An array whose elements are all strings.
    public var stringArray: [String]? { mapArray(\.string) }

    /// An array whose elements are all floats or integers, as `Float`.
    public var floatArray: [Float]? { mapArray { $0.float.map(Float.init) } }

    /// An array whose elements are all integers, as `Int`.
    public var intArray: [Int]? { mapArray(\.int) }

    private func mapArray<T>(_ transform: (GGUFValue) -> T?) -> [T]? {
        guard case .array(_, let elements) = self else { return nil }
        var result: [T] = []
        result.reserveCapacity(elements.count)
        for element in elements {
            guard let value = transform(element) else { return nil }
            result.append(value)
        }
        return result
    }
}
