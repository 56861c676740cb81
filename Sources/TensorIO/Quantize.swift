import Foundation
import TensorCore

extension DType {
    /// The types ``quantize(_:as:)`` encodes: the float types and the round-to-nearest ggml block
    /// types in which a zero weight stays exactly zero (Q8_0, Q4_0, Q5_0, Q6_K).
    public static let encodable: [DType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q5_0, .q6_K]

    /// Whether a stored 0 decodes to exactly 0.0 in every block, whatever else the block holds.
    ///
    /// True for the float types and the symmetric block types (value = scale · (q − offset), and
    /// 0 rounds to q = offset); false for Q4_1, Q5_1, Q4_K and Q5_K, whose values are
    /// `d · q + m` (or `d·sc·q − dmin·m`): a block's minimum shifts every level off zero.
    public var keepsExactZero: Bool {
        switch self {
        case .f32, .f16, .bf16, .f64, .q8_0, .q4_0, .q5_0, .q6_K: return true
        case .q4_1, .q5_1, .q4_K, .q5_K: return false
        }
    }
}

/// Encodes `values` (row-major, a whole number of `dtype` blocks) as `dtype`'s stored bytes.
///
/// F32, F16 and BF16 are little-endian (F16/BF16 round to nearest even). The block types are
/// round-to-nearest and byte-identical to llama.cpp's reference quantizers in `ggml-quants.c`
/// (`quantize_row_q8_0_ref`, `quantize_row_q4_0_ref`, `quantize_row_q5_0_ref`,
/// `quantize_row_q6_K_ref`), no importance matrix: see ``Quantizer``. The result is the exact
/// inverse layout of ``dequantize(_:bytes:count:into:)``.
///
/// Large inputs are split into contiguous block ranges encoded on all cores.
///
/// - Precondition: `dtype` is in ``DType/encodable``, `values.count` is a multiple of
///   `dtype.blockSize`, and for the block types every value is finite (programmer errors:
///   callers check shapes, types and values first, as `GGUFWriter` does).
public func quantize(_ values: [Float], as dtype: DType) -> [UInt8] {
    precondition(DType.encodable.contains(dtype), "\(dtype) has no encoder")
    let blockCount = values.count / dtype.blockSize
    precondition(blockCount * dtype.blockSize == values.count, "\(values.count) is not a whole number of \(dtype) blocks")
    var out = [UInt8](repeating: 0, count: blockCount * dtype.bytesPerBlock)
    guard blockCount > 0 else { return out }
    values.withUnsafeBufferPointer { source in
        out.withUnsafeMutableBytes { destination in
            let shared = QuantizePointers(source: source.baseAddress!, destination: destination.baseAddress!)
            let minimumElementsPerTask = 1 << 16
            let taskCount = min(ProcessInfo.processInfo.activeProcessorCount * 4, values.count / minimumElementsPerTask)
            if taskCount <= 1 {
                Quantizer.encode(dtype, shared.source, blocks: 0 ..< blockCount, shared.destination)
                return
            }
            let blocksPerTask = (blockCount + taskCount - 1) / taskCount
            DispatchQueue.concurrentPerform(iterations: taskCount) { task in
                let start = task * blocksPerTask, end = min(blockCount, start + blocksPerTask)
                if start < end { Quantizer.encode(dtype, shared.source, blocks: start ..< end, shared.destination) }
            }
        }
    }
    return out
}

/// Source and destination shared by tasks that encode disjoint block ranges.
private struct QuantizePointers: @unchecked Sendable {
    let source: UnsafePointer<Float>
    let destination: UnsafeMutableRawPointer
}

/// llama.cpp's reference (round-to-nearest) block quantizers, ported from `ggml-quants.c`.
///
/// Each kernel encodes `n` blocks from `x` into `dst`. Float operations are written in the
/// reference's order, one rounding each (Swift does not contract `a * b + c` into a fused
/// multiply-add), so the bytes equal the reference's built without FMA contraction and gguf-py's
/// numpy port. Rounding helpers: `roundf` (half away from zero) for Q8_0; truncation of
/// `x · id + 8.5` (or 16.5) for Q4_0/Q5_0; ``nearestInt(_:)`` (half to even) for Q6_K.
///
/// Block layouts are those of ``DequantizeLegacy`` and ``DequantizeKQuants``.
enum Quantizer {
    static func encode(_ dtype: DType, _ source: UnsafePointer<Float>, blocks: Range<Int>, _ destination: UnsafeMutableRawPointer) {
        let x = source + blocks.lowerBound * dtype.blockSize
        let dst = destination + blocks.lowerBound * dtype.bytesPerBlock
        let n = blocks.count
        switch dtype {
        case .f32:
            for i in 0 ..< n { dst.storeBytes(of: x[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        case .f16:
            for i in 0 ..< n { dst.storeBytes(of: HalfConversion.half(from: x[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .bf16:
            for i in 0 ..< n { dst.storeBytes(of: HalfConversion.bfloat16(from: x[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .q8_0: q8_0(x, n, dst)
        case .q4_0: q4_0(x, n, dst)
        case .q5_0: q5_0(x, n, dst)
        case .q6_K: q6_K(x, n, dst)
        case .f64, .q4_1, .q5_1, .q4_K, .q5_K: preconditionFailure("\(dtype) has no encoder")
        }
    }

    @inline(__always) static func storeHalf(_ value: Float, _ dst: UnsafeMutableRawPointer, _ offset: Int) {
        dst.storeBytes(of: HalfConversion.half(from: value).littleEndian, toByteOffset: offset, as: UInt16.self)
    }

    /// `quantize_row_q8_0_ref`: d = max|x| / 127, q = roundf(x / d) (as x · (1/d)).
    static func q8_0(_ x: UnsafePointer<Float>, _ n: Int, _ dst: UnsafeMutableRawPointer) {
        for b in 0 ..< n {
            let v = x + 32 * b, block = dst + 34 * b
            var amax: Float = 0
            for j in 0 ..< 32 { amax = max(amax, abs(v[j])) }
            let d = amax / 127
            let id: Float = d != 0 ? 1 / d : 0
            storeHalf(d, block, 0)
            for j in 0 ..< 32 {
                block.storeBytes(of: Int8((v[j] * id).rounded()), toByteOffset: 2 + j, as: Int8.self)
            }
        }
    }

    /// The first value of largest magnitude in `v[0..<count]` (its sign matters).
    @inline(__always) static func signedMaximum(_ v: UnsafePointer<Float>, _ count: Int) -> Float {
        var amax: Float = 0, maximum: Float = 0
        for j in 0 ..< count where amax < abs(v[j]) {
            amax = abs(v[j])
            maximum = v[j]
        }
        return maximum
    }

    /// `quantize_row_q4_0_ref`: d = max / −8 (max: the signed value of largest magnitude),
    /// q = min(15, trunc(x · (1/d) + 8.5)); value j in the low nibble of byte j, j+16 in the high.
    static func q4_0(_ x: UnsafePointer<Float>, _ n: Int, _ dst: UnsafeMutableRawPointer) {
        for b in 0 ..< n {
            let v = x + 32 * b, block = dst + 18 * b
            let d = signedMaximum(v, 32) / -8
            let id: Float = d != 0 ? 1 / d : 0
            storeHalf(d, block, 0)
            for j in 0 ..< 16 {
                let low = min(15, Int8(v[j] * id + 8.5)), high = min(15, Int8(v[j + 16] * id + 8.5))
                block.storeBytes(of: UInt8(low) | UInt8(high) << 4, toByteOffset: 2 + j, as: UInt8.self)
            }
        }
    }

    /// `quantize_row_q5_0_ref`: d = max / −16, q = min(31, trunc(x · (1/d) + 16.5)); low four
    /// bits as Q4_0, bit 4 of value j at bit j of the little-endian `qh`.
    static func q5_0(_ x: UnsafePointer<Float>, _ n: Int, _ dst: UnsafeMutableRawPointer) {
        for b in 0 ..< n {
            let v = x + 32 * b, block = dst + 22 * b
            let d = signedMaximum(v, 32) / -16
            let id: Float = d != 0 ? 1 / d : 0
            storeHalf(d, block, 0)
            var qh: UInt32 = 0
            for j in 0 ..< 16 {
                let low = UInt8(min(31, Int8(v[j] * id + 16.5))), high = UInt8(min(31, Int8(v[j + 16] * id + 16.5)))
                block.storeBytes(of: (low & 0x0F) | (high & 0x0F) << 4, toByteOffset: 6 + j, as: UInt8.self)
                qh |= UInt32(low >> 4) << UInt32(j) | UInt32(high >> 4) << UInt32(j + 16)
            }
            block.storeBytes(of: qh.littleEndian, toByteOffset: 2, as: UInt32.self)
        }
    }

    /// ggml's `nearest_int`: round half to even through the float adder (|x| ≤ 4194303).
    @inline(__always) static func nearestInt(_ value: Float) -> Int32 {
        let bits = Int32(bitPattern: (value + 12_582_912).bitPattern)
        return (bits & 0x007F_FFFF) - 0x0040_0000
    }

    /// ggml's `GROUP_MAX_EPS`: a group whose largest magnitude is below it is all zero.
    static let groupMaxEpsilon: Float = 1e-15

    /// `make_qx_quants(n, nmax, x, L, rmse_type: 1, qw: NULL)`: the scale of one group of `n`
    /// values with levels −nmax…nmax−1 stored as `L = l + nmax`, chosen among
    /// iscale = −(nmax + 0.1·k) / max, k = 0, ±1 … ±9, maximising (Σ w·x·l)² / Σ w·l² with
    /// weights w = x² (the least-squares scale Σ w·x·l / Σ w·l² of the best grid is returned).
    /// An all-zero group gets L = 0 and scale 0.
    static func makeQXQuants(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ levels: UnsafeMutablePointer<Int8>) -> Float {
        var amax: Float = 0, maximum: Float = 0
        for i in 0 ..< n where abs(x[i]) > amax {
            amax = abs(x[i])
            maximum = x[i]
        }
        if amax < groupMaxEpsilon {
            for i in 0 ..< n { levels[i] = 0 }
            return 0
        }
        let limit = nmax - 1
        var iscale = -Float(nmax) / maximum
        var sumlx: Float = 0, suml2: Float = 0
        for i in 0 ..< n {
            let l = max(-nmax, min(limit, nearestInt(iscale * x[i])))
            levels[i] = Int8(l + nmax)
            let w = x[i] * x[i]
            sumlx += w * x[i] * Float(l)
            suml2 += w * Float(l) * Float(l)
        }
        var scale: Float = suml2 != 0 ? sumlx / suml2 : 0
        var best = scale * sumlx
        for step in -9 ... 9 where step != 0 {
            iscale = -(Float(nmax) + 0.1 * Float(step)) / maximum
            sumlx = 0
            suml2 = 0
            for i in 0 ..< n {
                let l = Float(max(-nmax, min(limit, nearestInt(iscale * x[i]))))
                let w = x[i] * x[i]
                sumlx += w * x[i] * l
                suml2 += w * l * l
            }
            if suml2 > 0, sumlx * sumlx > best * suml2 {
                for i in 0 ..< n {
                    levels[i] = Int8(nmax + max(-nmax, min(limit, nearestInt(iscale * x[i]))))
                }
                scale = sumlx / suml2
                best = scale * sumlx
            }
        }
        return scale
    }

    /// `quantize_row_q6_K_ref`: sixteen groups of 16 each get a scale from ``makeQXQuants(_:_:_:_:)``
    /// (nmax 32); the super-block d = 1 / (−128 / max scale) (max: the signed scale of largest
    /// magnitude) and int8 group scales min(127, nearest(−128 / max scale · scale)); then every
    /// value of a group with non-zero d·scale is re-rounded against it,
    /// q = clamp(nearest(x / (d·scale)), −32, 31) + 32. A super-block whose scales are all below
    /// `GROUP_MAX_EPS` is stored as zeros.
    static func q6_K(_ x: UnsafePointer<Float>, _ n: Int, _ dst: UnsafeMutableRawPointer) {
        var levels = [Int8](repeating: 0, count: 256)
        var scales = [Float](repeating: 0, count: 16)
        levels.withUnsafeMutableBufferPointer { levelBuffer in
            let L = levelBuffer.baseAddress!
            for b in 0 ..< n {
                let v = x + 256 * b, block = dst + 210 * b
                var maxScale: Float = 0, maxAbsScale: Float = 0
                for group in 0 ..< 16 {
                    let scale = makeQXQuants(16, 32, v + 16 * group, L + 16 * group)
                    scales[group] = scale
                    if abs(scale) > maxAbsScale {
                        maxAbsScale = abs(scale)
                        maxScale = scale
                    }
                }
                if maxAbsScale < groupMaxEpsilon {
                    block.initializeMemory(as: UInt8.self, repeating: 0, count: 210)
                    continue
                }
                let iscale = -128 / maxScale
                storeHalf(1 / iscale, block, 208)
                let d = HalfConversion.float(fromHalf: HalfConversion.half(from: 1 / iscale))
                for group in 0 ..< 16 {
                    let scale = Int8(min(127, nearestInt(iscale * scales[group])))
                    block.storeBytes(of: scale, toByteOffset: 192 + group, as: Int8.self)
                    let groupScale = d * Float(scale)
                    if groupScale == 0 { continue }
                    for i in 16 * group ..< 16 * group + 16 {
                        L[i] = Int8(max(-32, min(31, nearestInt(v[i] / groupScale))) + 32)
                    }
                }
                for half in 0 ..< 2 {
                    let l = L + 128 * half, ql = block + 64 * half, qh = block + 128 + 32 * half
                    for j in 0 ..< 32 {
                        let q1 = UInt8(l[j]), q2 = UInt8(l[j + 32]), q3 = UInt8(l[j + 64]), q4 = UInt8(l[j + 96])
                        ql.storeBytes(of: (q1 & 0x0F) | (q3 & 0x0F) << 4, toByteOffset: j, as: UInt8.self)
                        ql.storeBytes(of: (q2 & 0x0F) | (q4 & 0x0F) << 4, toByteOffset: j + 32, as: UInt8.self)
                        qh.storeBytes(of: (q1 >> 4) | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6, toByteOffset: j, as: UInt8.self)
                    }
                }
            }
        }
    }
}
