import Foundation
import Testing
import TensorCore
import TensorIO

/// One malformed file per `GGUFError.Kind`: each must be rejected with that kind, a description
/// naming the file, and without crashing or allocating what the bad counts claim.
@Suite struct GGUFErrorTests {
    /// Hand-assembled GGUF bytes whose every field can be made wrong.
    struct RawGGUF {
        var magic = Array("GGUF".utf8)
        var version: UInt32 = 3
        var tensorCount: UInt64?
        var keyCount: UInt64?
        var keyValues: [[UInt8]] = []
        var tensorInfos: [[UInt8]] = []
        var alignment = 32
        var dataBytes = 0

        static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
        static func string(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }
        static func kv(_ key: String, type: UInt32, _ payload: [UInt8]) -> [UInt8] { string(key) + le(type) + payload }
        static func kv(_ key: [UInt8], type: UInt32, _ payload: [UInt8]) -> [UInt8] { le(UInt64(key.count)) + key + le(type) + payload }
        static func info(_ name: String, dims: [UInt64], type: UInt32 = 0, offset: UInt64 = 0) -> [UInt8] {
            string(name) + le(UInt32(dims.count)) + dims.flatMap { le($0) } + le(type) + le(offset)
        }

        var bytes: [UInt8] {
            var out = magic + Self.le(version)
            out += Self.le(tensorCount ?? UInt64(tensorInfos.count))
            out += Self.le(keyCount ?? UInt64(keyValues.count))
            out += keyValues.flatMap { $0 } + tensorInfos.flatMap { $0 }
            out += [UInt8](repeating: 0, count: (alignment - out.count % alignment) % alignment)
            return out + [UInt8](repeating: 0, count: dataBytes)
        }
    }

    /// Writes `bytes` to a temporary file, opens it, and returns the error thrown.
    func openError(_ bytes: [UInt8]) throws -> GGUFError {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gguf-errors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("bad.gguf")
        try Data(bytes).write(to: url)
        let error = try #require(throws: GGUFError.self) { _ = try GGUFFile(url: url) }
        #expect(error.description.contains(url.path))
        #expect(error.description.contains("HINT:"))
        return error
    }

    /// A file with one F32 tensor `[4]` and one key, valid as built.
    var valid: RawGGUF {
        var raw = RawGGUF()
        raw.keyValues = [RawGGUF.kv("general.architecture", type: 8, RawGGUF.string("llama"))]
        raw.tensorInfos = [RawGGUF.info("a", dims: [4])]
        raw.dataBytes = 16
        return raw
    }

    @Test func validBaselineOpens() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gguf-ok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("ok.gguf")
        try Data(valid.bytes).write(to: url)
        let file = try GGUFFile(url: url)
        #expect(try file.floats("a") == [0, 0, 0, 0])
        var v2 = valid
        v2.version = 2
        try Data(v2.bytes).write(to: url)
        #expect(try GGUFFile(url: url).version == 2)
    }

    @Test func missingFile() throws {
        let error = try #require(throws: GGUFError.self) { _ = try GGUFFile(url: URL(fileURLWithPath: "/nonexistent/x.gguf")) }
        #expect(error.kind == .io)
    }

    @Test func truncatedFile() throws {
        // Cut inside the tensor info (header 24 + key/value 45 + info 33 bytes).
        #expect(try openError(Array(valid.bytes.prefix(90))).kind == .truncated)
        #expect(try openError(Array(valid.bytes.prefix(60))).kind == .truncated)
        #expect(try openError(Array(valid.bytes.prefix(2))).kind == .truncated)
    }

    @Test func wrongMagic() throws {
        var raw = valid
        raw.magic = Array("GGML".utf8)
        let error = try openError(raw.bytes)
        #expect(error.kind == .badMagic)
        #expect(error.offset == 0)
    }

    @Test(arguments: [UInt32(1), 4, 0x0300_0000])
    func unsupportedVersion(_ version: UInt32) throws {
        var raw = valid
        raw.version = version
        let error = try openError(raw.bytes)
        #expect(error.kind == .unsupportedVersion)
        #expect(error.actual == "\(version)")
    }

    @Test func absurdCounts() throws {
        var tensors = valid
        tensors.tensorCount = 1 << 40
        #expect(try openError(tensors.bytes).kind == .countTooLarge)
        var keys = valid
        keys.keyCount = .max
        #expect(try openError(keys.bytes).kind == .countTooLarge)
        var string = valid
        string.keyValues = [RawGGUF.kv("k", type: 8, RawGGUF.le(UInt64(1) << 62))]
        let stringError = try openError(string.bytes)
        #expect(stringError.kind == .countTooLarge)
        #expect(stringError.subject == "k")
        var array = valid
        array.keyValues = [RawGGUF.kv("arr", type: 9, RawGGUF.le(UInt32(10)) + RawGGUF.le(UInt64(1) << 60))]
        #expect(try openError(array.bytes).kind == .countTooLarge)
    }

    @Test func invalidValueType() throws {
        var raw = valid
        raw.keyValues = [RawGGUF.kv("k", type: 13, [0])]
        #expect(try openError(raw.bytes).kind == .invalidValueType)
        var deep = valid
        // Arrays of arrays nested past the depth limit.
        var payload: [UInt8] = []
        for _ in 0 ..< 20 { payload += RawGGUF.le(UInt32(9)) + RawGGUF.le(UInt64(1)) }
        deep.keyValues = [RawGGUF.kv("deep", type: 9, payload + [UInt8](repeating: 0, count: 64))]
        #expect(try openError(deep.bytes).kind == .invalidValueType)
    }

    @Test func invalidAlignment() throws {
        var raw = valid
        raw.keyValues.append(RawGGUF.kv("general.alignment", type: 4, RawGGUF.le(UInt32(48))))
        #expect(try openError(raw.bytes).kind == .invalidAlignment)
    }

    @Test func offsetPastEnd() throws {
        var raw = valid
        raw.tensorInfos = [RawGGUF.info("a", dims: [4], offset: 32)]
        let error = try openError(raw.bytes)
        #expect(error.kind == .offsetOutOfBounds)
        #expect(error.subject == "a")
        var huge = valid
        huge.tensorInfos = [RawGGUF.info("a", dims: [4], offset: UInt64.max - 31)]
        #expect(try openError(huge.bytes).kind == .offsetOutOfBounds)
    }

    @Test func overlappingTensors() throws {
        var raw = valid
        raw.tensorInfos = [RawGGUF.info("a", dims: [16]), RawGGUF.info("b", dims: [4], offset: 32)]
        raw.dataBytes = 64
        let error = try openError(raw.bytes)
        #expect(error.kind == .overlappingTensors)
        #expect(error.subject == "b")
    }

    @Test func misalignedOffset() throws {
        var raw = valid
        raw.tensorInfos = [RawGGUF.info("a", dims: [2], offset: 4)]
        #expect(try openError(raw.bytes).kind == .misalignedOffset)
    }

    @Test(arguments: [UInt32(10), 99])
    func unknownType(_ type: UInt32) throws {
        var raw = valid
        raw.tensorInfos = [RawGGUF.info("a", dims: [256], type: type)]
        raw.dataBytes = 1024
        let error = try openError(raw.bytes)
        #expect(error.kind == .unknownType)
        #expect(error.subject == "a")
    }

    struct BadShape: Sendable, CustomStringConvertible {
        var dims: [UInt64]
        var type: UInt32 = 0
        var description: String
    }

    @Test(arguments: [
        BadShape(dims: [0], description: "zero dimension"),
        BadShape(dims: [.max], description: "negative as int64"),
        BadShape(dims: [1, 1, 1, 1, 1], description: "too many dimensions"),
        BadShape(dims: [], description: "no dimensions"),
        BadShape(dims: [33], type: 8, description: "Q8_0 row not whole blocks"),
        BadShape(dims: [1 << 32, 1 << 32], description: "element count overflows"),
    ])
    func shapeMismatch(_ shape: BadShape) throws {
        var raw = valid
        raw.tensorInfos = [RawGGUF.info("a", dims: shape.dims, type: shape.type)]
        #expect(try openError(raw.bytes).kind == .shapeMismatch)
    }

    @Test func duplicateTensorNames() throws {
        var raw = valid
        raw.tensorInfos = [RawGGUF.info("a", dims: [4]), RawGGUF.info("a", dims: [4], offset: 32)]
        raw.dataBytes = 48
        #expect(try openError(raw.bytes).kind == .duplicateTensor)
    }

    @Test func duplicateKeys() throws {
        var raw = valid
        raw.keyValues.append(RawGGUF.kv("general.architecture", type: 4, RawGGUF.le(UInt32(1))))
        let error = try openError(raw.bytes)
        #expect(error.kind == .duplicateKey)
        #expect(error.subject == "general.architecture")
    }

    @Test func invalidUTF8() throws {
        var key = valid
        key.keyValues = [RawGGUF.kv([0x66, 0xFF, 0xFE], type: 0, [1])]
        #expect(try openError(key.bytes).kind == .invalidUTF8)
        var value = valid
        value.keyValues = [RawGGUF.kv("k", type: 8, RawGGUF.le(UInt64(2)) + [0xC3, 0x28])]
        #expect(try openError(value.bytes).kind == .invalidUTF8)
    }
}
