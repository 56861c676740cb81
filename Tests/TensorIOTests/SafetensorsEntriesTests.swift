import Foundation
import Testing
import TensorCore
import TensorIO
import _TestSupport

/// Tensors of any dtype written from their bytes (the U8 bitmasks and I64 offsets of a sparse
/// checkpoint) and read back as stored; sizes that disagree with dtype × shape are typed errors
/// on both sides.
@Suite final class SafetensorsEntriesTests {
    let directory: URL

    init() throws { directory = try SafetensorsTestFiles.temporaryDirectory("entries") }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// A sparse weight's four parts plus a dense float tensor, with shapes not multiples of 8.
    static let offsets: [Int64] = [0, 3, 3, 9, -2, Int64.max]
    static let mask: [UInt8] = (0..<18).map { UInt8(truncatingIfNeeded: $0 &* 37) }
    static let values: [Float] = [1.5, -0.25, 3, 0, 7.75, -0x1p-10, 2, 8, 9]

    func writeSample(to url: URL) throws {
        let plan: [SafetensorsWriter.Entry] = [
            .init(name: "w.bitmask", dtype: .u8, shape: [6, 3]),
            .init(name: "w.compressed", dtype: .bf16, shape: [9]),
            .init(name: "w.row_offsets", dtype: .i64, shape: [6]),
            .init(name: "w.shape", dtype: .i64, shape: [2]),
            .init(name: "norm.weight", dtype: .f32, shape: [9]),
        ]
        try SafetensorsWriter.write(entries: plan, to: url) { entry in
            switch entry.name {
            case "w.bitmask": return Self.mask
            case "w.compressed": return SafetensorsWriter.bytes(Self.values, as: .bf16)
            case "w.row_offsets": return SafetensorsWriter.bytes(Self.offsets)
            case "w.shape": return SafetensorsWriter.bytes([6, 20])
            default: return SafetensorsWriter.bytes(Self.values, as: .f32)
            }
        }
    }

    @Test func integerTensorsRoundTrip() throws {
        let url = directory.appendingPathComponent("sparse.safetensors")
        try writeSample(to: url)
        let file = try SafetensorsFile(url: url)
        #expect(try file.storedBytes("w.bitmask", as: .u8) == Self.mask)
        #expect(try file.int64s("w.row_offsets") == Self.offsets)
        #expect(try file.int64s("w.shape") == [6, 20])
        #expect(try file.floats("w.compressed") == Self.values)   // every value is a bf16 value
        #expect(try file.floats("norm.weight") == Self.values)
        #expect(file.entry("w.bitmask")?.dtype == .u8 && file.entry("w.bitmask")?.shape == [6, 3])
        // Only the float tensors are `tensors`; every one is an entry.
        #expect(Set(file.tensors.map(\.name)) == ["w.compressed", "norm.weight"] && file.entries.count == 5)
        // Largest element first, so every tensor is aligned to its element size.
        let order = file.entries.map(\.name)
        #expect(order == ["w.row_offsets", "w.shape", "norm.weight", "w.compressed", "w.bitmask"], "\(order)")
        for entry in file.entries { #expect(entry.dataOffsets.lowerBound % entry.dtype.elementSize == 0, "\(entry.name)") }
    }

    @Test func readingAsAnotherDTypeNamesBoth() throws {
        let url = directory.appendingPathComponent("sparse.safetensors")
        try writeSample(to: url)
        let file = try SafetensorsFile(url: url)
        #expect(throws: SafetensorsError.dtypeMismatch(file: url.path, tensor: "w.bitmask", expected: "I64", actual: "U8")) {
            try file.int64s("w.bitmask")
        }
        #expect(throws: SafetensorsError.dtypeMismatch(file: url.path, tensor: "w.shape", expected: "U8", actual: "I64")) {
            try file.storedBytes("w.shape", as: .u8)
        }
        #expect(throws: SafetensorsError.unsupportedDType(file: url.path, tensor: "w.row_offsets", dtype: "I64")) {
            try file.floats("w.row_offsets")
        }
        #expect(throws: SafetensorsError.tensorNotFound(file: url.path, tensor: "w.weight")) { try file.int64s("w.weight") }
    }

    /// A U8 or I64 tensor whose byte range disagrees with dtype × shape is rejected on open,
    /// as a float one is.
    @Test(arguments: [("U8", [6, 3], 17), ("I64", [6], 47), ("I64", [2], 8)])
    func integerSizeMismatchIsAnError(_ dtype: String, _ shape: [Int], _ bytes: Int) throws {
        let header = "{" + SafetensorsTestFiles.entry("t", dtype, shape, 0, bytes) + "}"
        let url = try SafetensorsTestFiles.write(header: header, dataCount: bytes, in: directory)
        let expected = shape.reduce(dtype == "U8" ? 1 : 8, *)
        #expect(throws: SafetensorsError.sizeMismatch(file: url.path, tensor: "t", dtype: dtype, shape: shape, expected: expected,
                                                      actual: bytes)) {
            try SafetensorsFile(url: url)
        }
    }

    @Test func writerRejectsBytesThatDisagreeWithTheShape() throws {
        let url = directory.appendingPathComponent("bad.safetensors")
        let plan: [SafetensorsWriter.Entry] = [.init(name: "w.row_offsets", dtype: .i64, shape: [3])]
        #expect(throws: SafetensorsError.invalidTensorForWriting(tensor: "w.row_offsets", detail: "16 bytes given for I64 [3] (24 bytes)")) {
            try SafetensorsWriter.write(entries: plan, to: url) { _ in SafetensorsWriter.bytes([0, 1]) }
        }
        #expect(!FileManager.default.fileExists(atPath: url.path))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(leftovers.isEmpty, "\(leftovers)")
        #expect(throws: SafetensorsError.invalidTensorForWriting(tensor: "x", detail: "shape [-1] is negative or too large")) {
            try SafetensorsWriter.write(entries: [.init(name: "x", dtype: .u8, shape: [-1])], to: url) { _ in [] }
        }
    }

    /// The float API writes the same bytes as entries with `bytes(_:as:)`.
    @Test func floatWriterAndEntriesAgree() throws {
        var generator = SeededGenerator(seed: 5)
        let values = generator.uniform(count: 35, scale: 4)
        let a = directory.appendingPathComponent("a.safetensors"), b = directory.appendingPathComponent("b.safetensors")
        try SafetensorsWriter.write([.init(name: "e", dtype: .bf16, shape: [5, 7], values: values),
                                     .init(name: "n", dtype: .f32, shape: [35], values: values)], to: a)
        try SafetensorsWriter.write(entries: [.init(name: "e", dtype: .bf16, shape: [5, 7]), .init(name: "n", dtype: .f32, shape: [35])],
                                    to: b) { SafetensorsWriter.bytes(values, as: $0.dtype) }
        #expect(try Data(contentsOf: a) == Data(contentsOf: b))
    }
}
