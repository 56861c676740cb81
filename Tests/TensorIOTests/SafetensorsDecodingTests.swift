import Testing
import TensorCore
import TensorIO

/// The fast decoders against their per-element reference twin, on every 16-bit pattern, at
/// unaligned addresses and counts that are not multiples of the vector width.
@Suite struct SafetensorsDecodingTests {
    private func decodeBoth(_ dtype: SafetensorsDType, bytes: [UInt8], offset: Int, count: Int) -> ([Float], [Float]) {
        var fast = [Float](repeating: -1, count: count)
        var reference = [Float](repeating: -2, count: count)
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            fast.withUnsafeMutableBufferPointer { output in
                if let destination = output.baseAddress {
                    SafetensorsDecoding.decode(dtype, from: base + offset, count: count, into: destination)
                }
            }
            reference.withUnsafeMutableBufferPointer { output in
                if let destination = output.baseAddress {
                    SafetensorsDecoding.decodeReference(dtype, from: base + offset, count: count, into: destination)
                }
            }
        }
        return (fast, reference)
    }

    /// Bit-for-bit equality is the property here: decoding is exact, and NaN payloads must survive.
    @Test(arguments: [SafetensorsDType.f16, .bf16])
    func halfTypesMatchReferenceOnEveryBitPattern(dtype: SafetensorsDType) {
        var bytes: [UInt8] = [0xAB]  // one leading byte so the data is unaligned
        for pattern in UInt16.min...UInt16.max { bytes += [UInt8(pattern & 0xFF), UInt8(pattern >> 8)] }
        let (fast, reference) = decodeBoth(dtype, bytes: bytes, offset: 1, count: 65_536)
        #expect(fast.map(\.bitPattern) == reference.map(\.bitPattern))
        #expect(reference[0x3C00] == (dtype == .f16 ? 1 : Float(bitPattern: 0x3C00_0000)))
    }

    @Test(arguments: [SafetensorsDType.f32, .f16, .bf16, .f64], [0, 1, 7, 8, 9, 1003])
    func randomValuesAtOddCountsMatchReference(dtype: SafetensorsDType, count: Int) {
        var generator = SeededGenerator(seed: UInt64(count) &* 31 &+ UInt64(dtype.elementSize))
        let bytes = (0..<(count * dtype.elementSize + 3)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let (fast, reference) = decodeBoth(dtype, bytes: bytes, offset: 3, count: count)
        #expect(fast.map(\.bitPattern) == reference.map(\.bitPattern))
    }
}
