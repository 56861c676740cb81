import Foundation
import Testing
import TensorCore
import TensorIO
import _TestSupport

/// Decodes every tensor of the real models and compares with gguf-py's decoding
/// (`scripts/reference/gguf_fixture.py` → `Fixtures/gguf/golden_<model>.json`): the SHA-256 of
/// the float32 values must match (bit-identical); where it does not, every sampled value must be
/// within 1 ulp and the float64 sum and sum of squares within a tight relative tolerance.
///
/// `swift test -c release` decodes and hashes every tensor (about 2.8 billion values, ~40 s on two
/// cores). Unoptimised debug builds would take many minutes, so they decode only the tensors of
/// at most `debugElementLimit` values (norms, biases and the small projections) and check names,
/// types and shapes of the rest; `GGUFReaderTests` covers every block type in both builds.
@Suite struct GGUFGoldenTests {
    struct Golden: Decodable {
        struct Tensor: Decodable {
            var name: String
            var type: String
            var shape: [Int]
            var sha256: String
            var sum: Double
            var sumOfSquares: Double
            var samples: [Double]
        }
        var tensors: [Tensor]
    }

    #if DEBUG
    static let debugElementLimit = 1 << 18
    #else
    static let debugElementLimit = Int.max
    #endif

    /// Flat row-major positions the fixture samples: `(i·(n−1)) / 15`, i = 0...15.
    static func samplePositions(_ n: Int) -> [Int] { (0 ..< 16).map { $0 * (n - 1) / 15 } }

    func verify(_ model: String) throws {
        let file = try GGUFFile(url: TestAssets.model(model))
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: TestAssets.fixture("gguf/golden_\(model).json")))
        #expect(file.tensors.map(\.name) == golden.tensors.map(\.name))
        let largest = file.tensors.map(\.elementCount).max() ?? 0
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: largest)
        defer { buffer.deallocate() }
        var identicalByType: [String: (identical: Int, total: Int)] = [:]
        var decodeSeconds = 0.0, elements = 0
        let started = Date()
        for expected in golden.tensors {
            let info = try #require(file.info(expected.name))
            #expect(info.dtype.rawValue == expected.type, "\(expected.name)")
            #expect(info.shape == expected.shape, "\(expected.name)")
            let n = info.elementCount
            if n > Self.debugElementLimit { continue }
            let values = UnsafeMutableBufferPointer(rebasing: buffer[0 ..< n])
            let decodeStart = Date()
            try file.floats(expected.name, into: values)
            decodeSeconds += Date().timeIntervalSince(decodeStart)
            elements += n
            let identical = SHA256Digest.hex(UnsafeRawBufferPointer(values)) == expected.sha256
            identicalByType[expected.type, default: (0, 0)].total += 1
            if identical {
                identicalByType[expected.type, default: (0, 0)].identical += 1
                continue
            }
            for (position, reference) in zip(Self.samplePositions(n), expected.samples) {
                let value = values[position], target = Float(reference)
                #expect(abs(value - target) <= target.ulp, "\(expected.name)[\(position)]: \(value) vs \(target)")
            }
            var sum = 0.0, sumOfSquares = 0.0
            for value in values {
                let v = Double(value)
                sum += v
                sumOfSquares += v * v
            }
            let scale = (Double(n) * expected.sumOfSquares).squareRoot()
            #expect(abs(sum - expected.sum) <= 1e-6 * scale + 1e-30, "\(expected.name): sum \(sum) vs \(expected.sum)")
            #expect(abs(sumOfSquares - expected.sumOfSquares) <= 1e-9 * expected.sumOfSquares, "\(expected.name)")
        }
        let summary = identicalByType.keys.sorted().map { "\($0) \(identicalByType[$0]!.identical)/\(identicalByType[$0]!.total)" }
        print("""
            GGUF golden \(model): \(golden.tensors.count) tensors, \(elements) values; decode \
            \(String(format: "%.2f", decodeSeconds)) s (\(String(format: "%.0f", Double(elements) / decodeSeconds / 1e6)) M values/s), \
            total \(String(format: "%.2f", Date().timeIntervalSince(started))) s; bit-identical: \(summary.joined(separator: ", "))
            """)
    }

    @Test(.enabled(if: TestAssets.has(TestAssets.model("smollm2-135m"))))
    func smollm2() throws { try verify("smollm2-135m") }

    @Test(.enabled(if: TestAssets.has(TestAssets.model("gemma3-270m"))))
    func gemma3() throws { try verify("gemma3-270m") }

    @Test(.enabled(if: TestAssets.has(TestAssets.model("qwen2.5-coder-0.5b"))))
    func qwenCoder05B() throws { try verify("qwen2.5-coder-0.5b") }

    @Test(.enabled(if: TestAssets.has(TestAssets.model("qwen2.5-coder-1.5b"))))
    func qwenCoder15B() throws { try verify("qwen2.5-coder-1.5b") }
}
