import Testing
import TensorCore

@Suite struct HalfConversionTests {
    @Test func halfRoundTripsEveryFiniteValue() {
        for bits in UInt16.min...UInt16.max {
            let value = HalfConversion.float(fromHalf: bits)
            if value.isNaN { continue }
            #expect(HalfConversion.half(from: value) == bits)
        }
    }

    @Test func bfloat16RoundsToNearestEven() {
        // 1 + 2^-8 lies exactly between two bf16 values; ties go to the even mantissa (1.0).
        #expect(HalfConversion.bfloat16(from: 1 + 0x1p-8) == 0x3F80)
        // 1 + 3·2^-8 ties between 1+2^-7 (odd) and 1+2^-6 (even).
        #expect(HalfConversion.bfloat16(from: 1 + 3 * 0x1p-8) == 0x3F82)
        #expect(HalfConversion.float(fromBFloat16: 0x3F80) == 1)
        #expect(HalfConversion.float(fromBFloat16: HalfConversion.bfloat16(from: .nan)).isNaN)
        #expect(HalfConversion.bfloat16(from: -.infinity) == 0xFF80)
    }
}
