import Foundation
import Testing
import TensorCore
import TensorIO
import _TestSupport

/// The quantizers against llama.cpp's reference: byte-identical output on the committed fixture
/// (`scripts/reference/quant_fixture.py` → `Fixtures/quant/quantized.json`, gguf-py's
/// `gguf.quants.quantize` and ggml's `quantize_row_*_ref`), exact zeros after a round trip
/// through the dequantizer, and quantized tensors written by `GGUFWriter`.
@Suite struct QuantizeTests {
    struct Fixture: Decodable {
        struct Encoded: Decodable {
            var source: String
            var base64: String
        }

        var count: Int
        var input_f32le_base64: String
        var types: [String: Encoded]
    }

    static func fixture() throws -> (input: [Float], types: [String: [UInt8]]) {
        let data = try Data(contentsOf: TestAssets.fixture("quant/quantized.json"))
        let fixture = try JSONDecoder().decode(Fixture.self, from: data)
        let raw = try #require(Data(base64Encoded: fixture.input_f32le_base64))
        let input = raw.withUnsafeBytes { bytes in
            (0 ..< fixture.count).map { Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
        var types = [String: [UInt8]]()
        for (name, encoded) in fixture.types { types[name] = Array(try #require(Data(base64Encoded: encoded.base64))) }
        return (input, types)
    }

    static let blockTypes: [DType] = [.q8_0, .q4_0, .q5_0, .q6_K]

    @Test func fixtureCoversEveryEncodedType() throws {
        let (input, types) = try Self.fixture()
        #expect(input.count == 768)
        #expect(Set(types.keys) == Set(["BF16", "F16", "Q8_0", "Q4_0", "Q5_0", "Q6_K"]))
        #expect(input.filter { $0 == 0 }.count > 256)
    }

    @Test(arguments: [DType.bf16, .f16, .q8_0, .q4_0, .q5_0, .q6_K])
    func matchesReferenceBytes(_ dtype: DType) throws {
        let (input, types) = try Self.fixture()
        let expected = try #require(types[dtype.rawValue])
        let actual = quantize(input, as: dtype)
        #expect(actual.count == expected.count)
        let blockBytes = dtype.bytesPerBlock * (dtype.isQuantized ? 1 : dtype.blockSize)
        let mismatched = (0 ..< actual.count / blockBytes).filter {
            actual[$0 * blockBytes ..< ($0 + 1) * blockBytes] != expected[$0 * blockBytes ..< ($0 + 1) * blockBytes]
        }
        #expect(mismatched.isEmpty, "\(dtype) blocks differing from the reference: \(mismatched)")
    }

    /// Every zero of the input decodes to exactly 0.0, in all-zero blocks and mixed ones, and the
    /// decoded values are close to the input (within half a quantization step of the block).
    @Test(arguments: [DType.f32, .f16, .bf16, .q8_0, .q4_0, .q5_0, .q6_K])
    func zerosSurviveTheRoundTrip(_ dtype: DType) throws {
        var (input, _) = try Self.fixture()
        var generator = SeededGenerator(seed: 11)
        let random = generator.uniform(count: 2048, scale: 0.1)
        input += random.enumerated().map { $0.offset % 3 == 0 ? 0 : $0.element }
        #expect(dtype.keepsExactZero)
        let bytes = quantize(input, as: dtype)
        var decoded = [Float](repeating: .nan, count: input.count)
        bytes.withUnsafeBytes { raw in decoded.withUnsafeMutableBufferPointer { dequantize(dtype, bytes: raw, count: input.count, into: $0.baseAddress!) } }
        for (i, value) in input.enumerated() where value == 0 {
            #expect(decoded[i] == 0, "\(dtype) element \(i) decodes to \(decoded[i])")
        }
        let block = max(dtype.blockSize, 32)
        for start in stride(from: 0, to: input.count, by: block) {
            let amax = input[start ..< start + block].map(abs).max() ?? 0
            let levels: Float = switch dtype { case .q8_0: 127; case .q4_0: 8; case .q5_0: 16; case .q6_K: 16; default: 256 }
            for i in start ..< start + block {
                #expect(abs(decoded[i] - input[i]) <= amax / levels + 1e-5, "\(dtype) element \(i): \(input[i]) → \(decoded[i])")
            }
        }
    }

    @Test func keepsExactZeroOnlyForSymmetricTypes() {
        #expect(DType.allCases.filter { !$0.keepsExactZero } == [.q4_1, .q5_1, .q4_K, .q5_K])
        #expect(DType.encodable.allSatisfy { $0.keepsExactZero })
    }

    /// Tensors added from floats in a block type are stored as that type and read back as the
    /// dequantized quantizer output.
    @Test(arguments: [DType.q8_0, .q4_0, .q5_0, .q6_K])
    func writerStoresQuantizedTensors(_ dtype: DType) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("quantize-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var generator = SeededGenerator(seed: 5)
        let values = generator.uniform(count: 3 * 512).enumerated().map { $0.offset % 2 == 0 ? 0 : $0.element }
        var writer = try GGUFWriter()
        try writer.addTensor(name: "eager", shape: [3, 512], floats: values, as: dtype)
        try writer.addTensor(name: "deferred", shape: [3, 512], as: dtype) { values }
        let url = directory.appendingPathComponent("q.gguf")
        try writer.write(to: url)
        let file = try GGUFFile(url: url)
        #expect(file.tensors.map(\.dtype) == [dtype, dtype])
        #expect(Array(try file.rawBytes("eager")) == quantize(values, as: dtype))
        #expect(Array(try file.rawBytes("deferred")) == quantize(values, as: dtype))
        let decoded = try file.floats("deferred")
        #expect(zip(values, decoded).allSatisfy { $0 == 0 ? $1 == 0 : true })

        var bad = try GGUFWriter()
        try bad.addTensor(name: "nan", shape: [512], floats: [.nan] + values.prefix(511), as: dtype)
        let error = try #require(throws: GGUFError.self) { try bad.write(to: directory.appendingPathComponent("nan.gguf")) }
        #expect(error.kind == .invalidValueType && "\(error)".contains("nan"))
    }
}
