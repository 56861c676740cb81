import TensorCore

/// Decoding of stored little-endian float elements to `Float`.
///
/// `decode` is the fast path (SIMD widening of eight halves at a time, `memcpy` for F32);
/// `decodeReference` is its plain per-element twin built on `HalfConversion`, used by the tests
/// to check the fast path bit for bit. Both are exact: every F16, BF16 and F32 value is a `Float`;
/// F64 rounds to nearest.
public enum SafetensorsDecoding {
    /// Decodes `count` elements of `dtype` from `source` (any alignment) into `destination`.
    ///
    /// - Precondition: `dtype` is F32, F16, BF16 or F64 (callers check with `floatDType`).
    public static func decode(_ dtype: SafetensorsDType, from source: UnsafeRawPointer, count: Int,
                              into destination: UnsafeMutablePointer<Float>) {
        #if _endian(big)
        decodeReference(dtype, from: source, count: count, into: destination)
        #else
        switch dtype {
        case .f32:
            UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
        case .f16:
            let vectorCount = count / 8
            let output = UnsafeMutableRawPointer(destination)
            for block in 0..<vectorCount {
                let bits = source.loadUnaligned(fromByteOffset: block * 16, as: SIMD8<UInt16>.self)
                let halves = unsafeBitCast(bits, to: SIMD8<Float16>.self)
                output.storeBytes(of: SIMD8<Float>(halves), toByteOffset: block * 32, as: SIMD8<Float>.self)
            }
            for index in (vectorCount * 8)..<count {
                let bits = source.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)
                destination[index] = HalfConversion.float(fromHalf: bits)
            }
        case .bf16:
            let vectorCount = count / 8
            let output = UnsafeMutableRawPointer(destination)
            for block in 0..<vectorCount {
                let bits = source.loadUnaligned(fromByteOffset: block * 16, as: SIMD8<UInt16>.self)
                let widened = SIMD8<UInt32>(truncatingIfNeeded: bits) &<< 16
                output.storeBytes(of: widened, toByteOffset: block * 32, as: SIMD8<UInt32>.self)
            }
            for index in (vectorCount * 8)..<count {
                let bits = source.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)
                destination[index] = HalfConversion.float(fromBFloat16: bits)
            }
        default:
            decodeReference(dtype, from: source, count: count, into: destination)
        }
        #endif
    }

    /// Reference twin of `decode`: one element at a time, explicit little-endian loads.
    ///
    /// - Precondition: `dtype` is F32, F16, BF16 or F64.
    public static func decodeReference(_ dtype: SafetensorsDType, from source: UnsafeRawPointer, count: Int,
                                       into destination: UnsafeMutablePointer<Float>) {
        for index in 0..<count {
            switch dtype {
            case .f32:
                let bits = UInt32(littleEndian: source.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self))
                destination[index] = Float(bitPattern: bits)
            case .f16:
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))
                destination[index] = HalfConversion.float(fromHalf: bits)
            case .bf16:
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))
                destination[index] = HalfConversion.float(fromBFloat16: bits)
            case .f64:
                let bits = UInt64(littleEndian: source.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))
                destination[index] = Float(Double(bitPattern: bits))
            default:
                preconditionFailure("SafetensorsDecoding: \(dtype.rawValue) does not decode to Float")
            }
        }
    }
}
