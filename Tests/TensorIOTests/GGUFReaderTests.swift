import Foundation
import Testing
import TensorCore
import TensorIO
import _TestSupport

/// Reads `Fixtures/gguf/blocks.gguf`, written by gguf-py (`scripts/reference/gguf_blocks.py`), and
/// compares metadata and every block format's decoded values with gguf-py's `dequantize`.
@Suite struct GGUFReaderTests {
    struct Expected: Decodable {
        struct Tensor: Decodable { var name: String; var type: String; var shape: [Int]; var values: [Double] }
        var tensors: [Tensor]
    }

    static let file = TestAssets.fixture("gguf/blocks.gguf")

    @Test func metadataOfEveryValueType() throws {
        let gguf = try GGUFFile(url: Self.file)
        #expect(gguf.version == 3)
        #expect(gguf.alignment == 64)
        let m = gguf.metadata
        #expect(m["general.architecture"]?.string == "test")
        #expect(m["test.uint8"] == .uint8(200))
        #expect(m["test.int8"] == .int8(-100))
        #expect(m["test.uint16"] == .uint16(60000))
        #expect(m["test.int16"] == .int16(-30000))
        #expect(m["test.uint32"]?.int == 4_000_000_000)
        #expect(m["test.int32"]?.int == -2_000_000_000)
        #expect(m["test.float32"]?.float == 0.15625)
        #expect(m["test.bool"]?.bool == true)
        #expect(m["test.string"]?.string == "héllo ✓")
        #expect(m["test.uint64"] == .uint64(1 << 63 + 5))
        #expect(m["test.uint64"]?.int == nil)
        #expect(m["test.int64"]?.int == -(1 << 62))
        #expect(m["test.float64"]?.float == 3.141592653589793)
        #expect(m["test.strings"]?.stringArray == ["a", "", "ü"])
        #expect(m["test.floats"]?.floatArray == [0.5, -1.25])
        #expect(m["test.ints"]?.intArray == [1, -2, 3])
        #expect(m["test.nested"] == .array(.array, [.array(.int32, [.int32(1), .int32(2)]), .array(.int32, [.int32(3)])]))
        #expect(gguf.metadataKeys.first == "general.architecture")
        #expect(gguf.metadataKeys.count == 18)
    }

    @Test func tensorInfosAreRowMajor() throws {
        let gguf = try GGUFFile(url: Self.file)
        let q4k = try #require(gguf.info("t.q4_k"))
        #expect(q4k.shape == [2, 512])
        #expect(q4k.dtype == .q4_K)
        let raw = try gguf.tensorInfo("t.q4_k")
        #expect(raw.dimensions == [512, 2])
        #expect(raw.ggmlTypeID == 12)
        #expect(raw.byteCount == 2 * 2 * 144)
        #expect(try gguf.rawBytes("t.q4_k").count == raw.byteCount)
        for info in gguf.tensorInfos { #expect(info.relativeOffset % 64 == 0) }
    }

    /// Every supported type decodes bit-identically to gguf-py on random blocks.
    @Test func everyBlockFormatMatchesReference() throws {
        let gguf = try GGUFFile(url: Self.file)
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: TestAssets.fixture("gguf/blocks.json")))
        #expect(Set(expected.tensors.map(\.type)) == Set(DType.allCases.filter { $0 != .f64 }.map(\.rawValue)))
        for tensor in expected.tensors {
            let info = try #require(gguf.info(tensor.name))
            #expect(info.dtype.rawValue == tensor.type)
            #expect(info.shape == tensor.shape)
            let decoded = try gguf.floats(tensor.name)
            #expect(decoded.count == tensor.values.count)
            let mismatches = zip(decoded, tensor.values).filter { $0.bitPattern != Float($1).bitPattern }.count
            #expect(mismatches == 0, "\(tensor.name): \(mismatches) values differ from gguf-py")
        }
    }

    @Test func unknownTensorNameIsAnError() throws {
        let gguf = try GGUFFile(url: Self.file)
        let error = try #require(throws: GGUFError.self) { try gguf.floats("missing") }
        #expect(error.kind == .tensorNotFound)
    }

    /// Single rows decode to the rows of the whole tensor (a float type, a 32-value block type and a
    /// 256-value super-block type); rows that are not whole blocks, and unknown tensors, are refused
    /// naming the tensor.
    @Test func rowDecoderMatchesWholeTensorAndRefusesPartialBlocks() throws {
        let gguf = try GGUFFile(url: Self.file)
        #expect(gguf.decodesRows)
        for (name, columns) in [("t.f16", 40), ("t.q4_0", 64), ("t.q6_k", 512)] {
            let whole = try gguf.floats(name)
            let decode = try #require(try gguf.rowDecoder(name, columns: columns))
            var row = [Float](repeating: .nan, count: columns)
            for r in 0..<2 {
                decode(r, &row)
                #expect(row == Array(whole[(r * columns)..<((r + 1) * columns)]), "\(name) row \(r)")
            }
        }
        let partial = try #require(throws: GGUFError.self) { try gguf.rowDecoder("t.q4_0", columns: 48) }
        #expect(partial.kind == .shapeMismatch && partial.description.contains("t.q4_0"))
        let notDividing = try #require(throws: GGUFError.self) { try gguf.rowDecoder("t.f32", columns: 30) }
        #expect(notDividing.kind == .shapeMismatch)
        let missing = try #require(throws: GGUFError.self) { try gguf.rowDecoder("missing", columns: 32) }
        #expect(missing.kind == .tensorNotFound)
    }

    /// Decoding splits large tensors across threads; the split must not change any value.
    @Test func parallelDecodeMatchesSingleBlockDecode() throws {
        var generator = SeededGenerator(seed: 7)
        let blockCount = 9001
        for dtype in DType.allCases where dtype.isQuantized {
            var bytes = (0 ..< blockCount * dtype.bytesPerBlock).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
            // Keep the binary16 scales finite: clear their exponent's top bit.
            for block in 0 ..< blockCount {
                let base = block * dtype.bytesPerBlock
                let offsets = dtype == .q6_K ? [208] : (dtype == .q4_1 || dtype == .q5_1 || dtype == .q4_K || dtype == .q5_K) ? [0, 2] : [0]
                for offset in offsets { bytes[base + offset + 1] &= 0x3F }
            }
            let count = blockCount * dtype.blockSize
            var whole = [Float](repeating: 0, count: count)
            var perBlock = [Float](repeating: 0, count: count)
            bytes.withUnsafeBytes { raw in
                whole.withUnsafeMutableBufferPointer { dequantize(dtype, bytes: raw, count: count, into: $0.baseAddress!) }
                perBlock.withUnsafeMutableBufferPointer { out in
                    for block in 0 ..< blockCount {
                        let slice = UnsafeRawBufferPointer(rebasing: raw[block * dtype.bytesPerBlock ..< (block + 1) * dtype.bytesPerBlock])
                        dequantize(dtype, bytes: slice, count: dtype.blockSize, into: out.baseAddress! + block * dtype.blockSize)
                    }
                }
            }
            #expect(zip(whole, perBlock).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(dtype)")
            #expect(whole.allSatisfy { $0.isFinite }, "\(dtype)")
        }
    }
}
