import Foundation
import Testing
import TensorCore
import TensorIO
import _TestSupport

/// Reads `tiny.safetensors`, written by the official Python `safetensors` package
/// (`scripts/reference/safetensors_fixture.py`), and checks every value against the script's formulas.
@Suite struct SafetensorsReferenceTests {
    let url = TestAssets.fixture("safetensors/tiny.safetensors")

    @Test func readsHeaderAndMetadata() throws {
        let file = try SafetensorsFile(url: url)
        #expect(file.metadata == ["format": "pt", "source": "scripts/reference/safetensors_fixture.py"])
        #expect(file.entries.map(\.name) == ["ids.i64", "embed.f32", "scalar.f32", "norm.bf16", "empty.f16", "layer.f16"])
        #expect(file.tensors == [
            TensorInfo(name: "embed.f32", dtype: .f32, shape: [3, 4]),
            TensorInfo(name: "scalar.f32", dtype: .f32, shape: []),
            TensorInfo(name: "norm.bf16", dtype: .bf16, shape: [7]),
            TensorInfo(name: "empty.f16", dtype: .f16, shape: [0]),
            TensorInfo(name: "layer.f16", dtype: .f16, shape: [2, 5]),
        ])
        #expect(file.headerLength % 8 == 0)
        #expect(file.entry("ids.i64")?.dataOffsets == 0..<24)
    }

    @Test func decodesF32() throws {
        let values = try SafetensorsFile(url: url).floats("embed.f32")
        #expect(values.count == 12)
        for (index, value) in values.enumerated() {
            let expected = (Double(index) - 5) * 0.375 + 0.1
            #expect(abs(Double(value) - expected) <= 1e-7 * max(1, abs(expected)), "element \(index)")
        }
        #expect(abs(try SafetensorsFile(url: url).floats("scalar.f32")[0] - 3.5) < 1e-7)
    }

    @Test func decodesF16() throws {
        let values = try SafetensorsFile(url: url).floats("layer.f16")
        #expect(values.count == 10)
        for (index, value) in values.enumerated() {
            let expected = Double(index) * 0.3 - 1.2
            // Half rounding error is at most half an ulp: 2^-11 relative, 2^-25 absolute near zero.
            #expect(abs(Double(value) - expected) <= 0x1p-11 * abs(expected) + 0x1p-25, "element \(index)")
        }
    }

    @Test func decodesBF16() throws {
        let values = try SafetensorsFile(url: url).floats("norm.bf16")
        #expect(values.count == 7)
        for (index, value) in values.enumerated() {
            let expected = Double(index + 1) * 1.1 * (index % 2 == 0 ? 1 : -1)
            #expect(abs(Double(value) - expected) <= 0x1p-8 * abs(expected), "element \(index)")
        }
    }

    @Test func decodesIntoACallersBuffer() throws {
        let file = try SafetensorsFile(url: url)
        var buffer = [Float](repeating: .nan, count: 10)
        try buffer.withUnsafeMutableBufferPointer { output throws(SafetensorsError) in try file.decode("layer.f16", into: output) }
        #expect(buffer.map(\.bitPattern) == (try file.floats("layer.f16")).map(\.bitPattern))
        var wrong = [Float](repeating: 0, count: 9)
        #expect(throws: SafetensorsError.destinationSizeMismatch(tensor: "layer.f16", expected: 10, actual: 9)) {
            try wrong.withUnsafeMutableBufferPointer { output throws(SafetensorsError) in try file.decode("layer.f16", into: output) }
        }
    }

    @Test func emptyTensorDecodesToNoValues() throws {
        #expect(try SafetensorsFile(url: url).floats("empty.f16").isEmpty)
    }

    @Test func integerTensorIsRecognisedButNotDecoded() throws {
        let file = try SafetensorsFile(url: url)
        #expect(file.entry("ids.i64")?.dtype == .i64)
        #expect(throws: SafetensorsError.unsupportedDType(file: url.path, tensor: "ids.i64", dtype: "I64")) {
            try file.floats("ids.i64")
        }
        let raw = try file.withRawBytes(of: "ids.i64") { Array($0) }
        #expect(raw.count == 24 && raw[0] == 1 && raw[8] == 2 && raw[16] == 3)
    }
}
