import Foundation
import Testing
import TensorCore
import TensorIO
import _TestSupport

/// Dequantization throughput on the largest real model; runs only when `DLP_BENCH=1`
/// (`DLP_BENCH=1 swift test -c release --filter GGUFThroughputTests`), printing seconds and
/// values per second for decoding every tensor (the file is read once first so that the figure
/// measures decoding, not the disk).
@Suite struct GGUFThroughputTests {
    static let model = TestAssets.model("qwen2.5-coder-1.5b")

    @Test(.enabled(if: ProcessInfo.processInfo.environment["DLP_BENCH"] == "1" && TestAssets.has(model)))
    func decodeWholeModel() throws {
        let file = try GGUFFile(url: Self.model)
        let largest = file.tensors.map(\.elementCount).max() ?? 0
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: largest)
        defer { buffer.deallocate() }
        var checksum: UInt8 = 0
        for info in file.tensorInfos {
            let bytes = try file.rawBytes(info.name)
            for i in stride(from: 0, to: bytes.count, by: 4096) { checksum &+= bytes[i] }
        }
        var perType: [DType: (seconds: Double, values: Int)] = [:]
        let start = Date()
        for info in file.tensors {
            let t0 = Date()
            try file.floats(info.name, into: UnsafeMutableBufferPointer(rebasing: buffer[0 ..< info.elementCount]))
            perType[info.dtype, default: (0, 0)].seconds += Date().timeIntervalSince(t0)
            perType[info.dtype, default: (0, 0)].values += info.elementCount
        }
        let seconds = Date().timeIntervalSince(start)
        let values = file.tensors.map(\.elementCount).reduce(0, +)
        let digestStart = Date()
        _ = SHA256Digest.hex(UnsafeRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[0 ..< largest])))
        let digestRate = Double(largest * 4) / Date().timeIntervalSince(digestStart) / 1e6
        let types = perType.keys.sorted { $0.rawValue < $1.rawValue }.map {
            "\($0.rawValue) \(String(format: "%.0f", Double(perType[$0]!.values) / perType[$0]!.seconds / 1e6)) M/s"
        }
        print("""
            GGUF decode qwen2.5-coder-1.5b: \(values) values in \(String(format: "%.2f", seconds)) s \
            (\(String(format: "%.0f", Double(values) / seconds / 1e6)) M values/s, \
            \(ProcessInfo.processInfo.activeProcessorCount) cores); \(types.joined(separator: ", ")); \
            SHA-256 \(String(format: "%.0f", digestRate)) MB/s [\(checksum)]
            """)
    }
}
