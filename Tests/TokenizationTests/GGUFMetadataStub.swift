import Foundation
import Tokenization

/// A minimal GGUF (v2/v3) key–value reader for these tests only: it parses the metadata section
/// and stops before the tensor infos. It stands in for the `TensorIO` GGUF reader until that is
/// wired to `TokenizerMetadataSource`; then these tests should use the real reader.
struct GGUFMetadataStub: TokenizerMetadataSource {
    enum Value {
        case int(Int), float(Double), bool(Bool), string(String)
        case array([Value])
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let sourceDescription: String
    private var values: [String: Value] = [:]

    init(url: URL) throws {
        sourceDescription = url.lastPathComponent
        let data = try Data(contentsOf: url, options: .alwaysMapped)
        var cursor = Cursor(data: data, file: sourceDescription)
        guard try cursor.u32() == 0x4655_4747 else { throw Failure(description: "\(sourceDescription): not GGUF") }
        let version = try cursor.u32()
        guard version == 2 || version == 3 else { throw Failure(description: "\(sourceDescription): GGUF version \(version)") }
        _ = try cursor.u64()
        let count = try cursor.u64()
        for _ in 0..<count {
            let key = try cursor.string()
            let type = try cursor.u32()
            values[key] = try cursor.value(type)
        }
    }

    func string(_ key: String) throws -> String? {
        guard let value = values[key] else { return nil }
        guard case .string(let s) = value else { throw Failure(description: "\(key): not a string") }
        return s
    }

    func stringArray(_ key: String) throws -> [String]? {
        try array(key)?.map { v in
            guard case .string(let s) = v else { throw Failure(description: "\(key): not strings") }
            return s
        }
    }

    func floatArray(_ key: String) throws -> [Float]? {
        try array(key)?.map { v in
            guard case .float(let f) = v else { throw Failure(description: "\(key): not floats") }
            return Float(f)
        }
    }

    func intArray(_ key: String) throws -> [Int]? {
        try array(key)?.map { v in
            guard case .int(let i) = v else { throw Failure(description: "\(key): not integers") }
            return i
        }
    }

    func int(_ key: String) throws -> Int? {
        guard let value = values[key] else { return nil }
        guard case .int(let i) = value else { throw Failure(description: "\(key): not an integer") }
        return i
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = values[key] else { return nil }
        guard case .bool(let b) = value else { throw Failure(description: "\(key): not a bool") }
        return b
    }

    private func array(_ key: String) throws -> [Value]? {
        guard let value = values[key] else { return nil }
        guard case .array(let a) = value else { throw Failure(description: "\(key): not an array") }
        return a
    }

    private struct Cursor {
        let data: Data
        let file: String
        var offset = 0

        mutating func bytes(_ n: Int) throws -> Data {
            guard n >= 0, offset + n <= data.count else { throw Failure(description: "\(file): truncated at \(offset)") }
            defer { offset += n }
            return data[data.startIndex + offset ..< data.startIndex + offset + n]
        }

        mutating func scalar<T: FixedWidthInteger>(_: T.Type) throws -> T {
            let raw = try bytes(MemoryLayout<T>.size)
            var value: T = 0
            withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: raw) }
            return T(littleEndian: value)
        }

        mutating func u32() throws -> UInt32 { try scalar(UInt32.self) }
        mutating func u64() throws -> UInt64 { try scalar(UInt64.self) }
        mutating func string() throws -> String {
            String(decoding: try bytes(Int(try u64())), as: UTF8.self)
        }

        mutating func value(_ type: UInt32) throws -> Value {
            switch type {
            case 0: return .int(Int(try scalar(UInt8.self)))
            case 1: return .int(Int(try scalar(Int8.self)))
            case 2: return .int(Int(try scalar(UInt16.self)))
            case 3: return .int(Int(try scalar(Int16.self)))
            case 4: return .int(Int(try scalar(UInt32.self)))
            case 5: return .int(Int(try scalar(Int32.self)))
            case 6: return .float(Double(Float(bitPattern: try scalar(UInt32.self))))
            case 7: return .bool(try scalar(UInt8.self) != 0)
            case 8: return .string(try string())
            case 9:
                let elementType = try u32()
                let count = Int(try u64())
                guard count <= data.count else { throw Failure(description: "\(file): array of \(count)") }
                var items: [Value] = []
                items.reserveCapacity(count)
                for _ in 0..<count { items.append(try value(elementType)) }
                return .array(items)
            case 10: return .int(Int(truncatingIfNeeded: try scalar(UInt64.self)))
            case 11: return .int(Int(try scalar(Int64.self)))
            case 12: return .float(Double(bitPattern: try scalar(UInt64.self)))
            default: throw Failure(description: "\(file): value type \(type) at \(offset)")
            }
        }
    }
}
