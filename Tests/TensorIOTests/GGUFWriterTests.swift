import Foundation
import Testing
import TensorCore
import TensorIO
import _TestSupport

/// Writer → reader round trips: metadata of every type, float tensors in each float type,
/// raw quantized bytes copied through, alignment, and the writer's own validation.
@Suite struct GGUFWriterTests {
    func temporaryURL(_ name: String) throws -> (URL, URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gguf-writer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return (directory, directory.appendingPathComponent(name))
    }

    static let allValues: [(String, GGUFValue)] = [
        ("general.architecture", .string("llama")),
        ("v.uint8", .uint8(255)), ("v.int8", .int8(-128)), ("v.uint16", .uint16(65535)), ("v.int16", .int16(-32768)),
        ("v.uint32", .uint32(.max)), ("v.int32", .int32(.min)), ("v.float32", .float32(-0.1)), ("v.bool", .bool(false)),
        ("v.string", .string("日本語 ok")), ("v.uint64", .uint64(.max)), ("v.int64", .int64(.min)), ("v.float64", .float64(1e-300)),
        ("v.empty", .array(.string, [])),
        ("v.tokens", .array(.string, [.string("<s>"), .string("▁the"), .string("")])),
        ("v.scores", .array(.float32, [.float32(-1), .float32(0.25)])),
        ("v.nested", .array(.array, [.array(.uint8, [.uint8(1)]), .array(.uint8, [])])),
    ]

    @Test(arguments: [32, 64, 4096])
    func roundTripsMetadataAndFloatTensors(alignment: Int) throws {
        let (directory, url) = try temporaryURL("model.gguf")
        defer { try? FileManager.default.removeItem(at: directory) }
        var generator = SeededGenerator(seed: 3)
        let weight = generator.uniform(count: 3 * 37)
        let half = generator.uniform(count: 5 * 7, scale: 100)
        let brain = generator.uniform(count: 2 * 3 * 4 * 5)
        var writer = try GGUFWriter(alignment: alignment)
        for (key, value) in Self.allValues { try writer.set(key, value) }
        try writer.set("v.bool", .bool(true))
        try writer.addTensor(name: "w", shape: [3, 37], floats: weight)
        try writer.addTensor(name: "h", shape: [5, 7], floats: half, as: .f16)
        try writer.addTensor(name: "b", shape: [2, 3, 4, 5], floats: brain, as: .bf16)
        try writer.write(to: url)

        let file = try GGUFFile(url: url)
        #expect(file.version == 3)
        #expect(file.alignment == alignment)
        for (key, value) in Self.allValues where key != "v.bool" { #expect(file.metadata[key] == value, "\(key)") }
        #expect(file.metadata["v.bool"] == .bool(true))
        #expect(Array(file.metadataKeys.prefix(Self.allValues.count)) == Self.allValues.map(\.0))
        #expect(file.tensors.map(\.name) == ["w", "h", "b"])
        #expect(file.tensors.map(\.shape) == [[3, 37], [5, 7], [2, 3, 4, 5]])
        #expect(file.tensors.map(\.dtype) == [.f32, .f16, .bf16])
        #expect(try file.floats("w") == weight)
        for (decoded, original) in zip(try file.floats("h"), half) {
            #expect(abs(decoded - original) <= abs(original) * 0x1p-11 + 0x1p-24)
        }
        for (decoded, original) in zip(try file.floats("b"), brain) {
            #expect(abs(decoded - original) <= abs(original) * 0x1p-8)
        }
        for info in file.tensorInfos { #expect(info.fileOffset % alignment == 0) }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(leftovers == ["model.gguf"])
    }

    /// Quantized tensors copied from another file keep their bytes, and the result decodes the same.
    @Test func copiesQuantizedTensorsThrough() throws {
        let source = try GGUFFile(url: TestAssets.fixture("gguf/blocks.gguf"))
        let (directory, url) = try temporaryURL("copy.gguf")
        defer { try? FileManager.default.removeItem(at: directory) }
        var writer = try GGUFWriter()
        for key in source.metadataKeys where key != "general.alignment" {
            try writer.set(key, try #require(source.metadata[key]))
        }
        for info in source.tensors { try writer.addTensor(copying: info.name, from: source) }
        let q6 = try source.rawBytes("t.q6_k")
        try writer.addTensor(name: "raw.q6_k", shape: [2, 512], dtype: .q6_K, bytes: Array(q6))
        try writer.write(to: url)

        let copy = try GGUFFile(url: url)
        #expect(copy.alignment == 32)
        #expect(copy.tensors.dropLast() == source.tensors[...])
        for info in source.tensors {
            #expect(Array(try copy.rawBytes(info.name)) == Array(try source.rawBytes(info.name)))
        }
        #expect(try copy.floats("raw.q6_k").map(\.bitPattern) == (try source.floats("t.q6_k")).map(\.bitPattern))
        #expect(copy.metadata["test.nested"] == source.metadata["test.nested"])
    }

    /// Deferred tensors are produced at write time; a producer returning the wrong count fails
    /// the write and leaves no file behind.
    @Test func deferredTensorsAreProducedWhenWritten() throws {
        let (directory, url) = try temporaryURL("deferred.gguf")
        defer { try? FileManager.default.removeItem(at: directory) }
        var writer = try GGUFWriter()
        try writer.addTensor(name: "w", shape: [2, 3], as: .f16) { [1, 2, 3, 4, 5, -6] }
        try writer.write(to: url)
        #expect(try GGUFFile(url: url).floats("w") == [1, 2, 3, 4, 5, -6])

        var bad = try GGUFWriter()
        try bad.addTensor(name: "w", shape: [2, 3]) { [1, 2] }
        let other = directory.appendingPathComponent("bad.gguf")
        #expect(throws: GGUFError.self) { try bad.write(to: other) }
        #expect(!FileManager.default.fileExists(atPath: other.path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["deferred.gguf"])
    }

    @Test func rejectsInvalidTensorsAndValues() throws {
        var writer = try GGUFWriter()
        try writer.addTensor(name: "a", shape: [2], floats: [1, 2])
        #expect(throws: GGUFError.self) { try writer.addTensor(name: "a", shape: [2], floats: [1, 2]) }
        #expect(throws: GGUFError.self) { try writer.addTensor(name: "b", shape: [3], floats: [1, 2]) }
        #expect(throws: GGUFError.self) { try writer.addTensor(name: "c", shape: [0], floats: []) }
        #expect(throws: GGUFError.self) { try writer.addTensor(name: "d", shape: [2, 16], dtype: .q8_0, bytes: [0, 0]) }
        #expect(throws: GGUFError.self) { try writer.addTensor(name: "e", shape: [32], floats: .init(repeating: 0, count: 32), as: .q4_1) }
        #expect(throws: GGUFError.self) { try writer.addTensor(name: "f", shape: [48], floats: .init(repeating: 0, count: 48), as: .q8_0) }
        #expect(throws: GGUFError.self) { try writer.addTensor(name: "g", shape: [2, 288], floats: .init(repeating: 0, count: 576), as: .q6_K) }
        #expect(throws: GGUFError.self) { try writer.set("bad", .array(.int32, [.string("x")])) }
        #expect(throws: GGUFError.self) { try writer.set("general.alignment", .uint32(64)) }
        #expect(throws: GGUFError.self) { _ = try GGUFWriter(alignment: 48) }
        let error = try #require(throws: GGUFError.self) {
            try writer.write(to: URL(fileURLWithPath: "/nonexistent-dir/x.gguf"))
        }
        #expect(error.kind == .io)
    }
}
