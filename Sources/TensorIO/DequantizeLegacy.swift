/// ggml's 32-element block formats (block = 32 values). Each kernel decodes `n` consecutive blocks
/// from `src` into `32·n` floats at `dst`.
///
/// Layouts (bytes): `d`, `m` are binary16 scale and minimum; `qs` packs element `j` in the low
/// nibble of byte `j` and element `j+16` in its high nibble; `qh` (little-endian `uint32`) holds
/// bit 4 of element `j` at bit `j`.
///
/// | type | layout | value |
/// |---|---|---|
/// | Q4_0 (18) | d, qs[16] | d · (q − 8) |
/// | Q4_1 (20) | d, m, qs[16] | d · q + m |
/// | Q5_0 (22) | d, qh[4], qs[16] | d · (q − 16) |
/// | Q5_1 (24) | d, m, qh[4], qs[16] | d · q + m |
/// | Q8_0 (34) | d, qs[32] (int8) | q · d |
///
/// Products and sums round separately (no fused multiply-add), matching gguf-py.
enum DequantizeLegacy {
    static func q4_0(_ src: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
        for b in 0 ..< n {
            let block = src + b * 18, out = dst + b * 32
            let d = block.half(0)
            let qs = block + 2
            for j in 0 ..< 16 {
                let byte = qs.byte(j)
                out[j] = d * Float(Int32(byte & 0x0F) - 8)
                out[j + 16] = d * Float(Int32(byte >> 4) - 8)
            }
        }
    }

    static func q4_1(_ src: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
        for b in 0 ..< n {
            let block = src + b * 20, out = dst + b * 32
            let d = block.half(0), m = block.half(2)
            let qs = block + 4
            for j in 0 ..< 16 {
                let byte = qs.byte(j)
                out[j] = d * Float(byte & 0x0F) + m
                out[j + 16] = d * Float(byte >> 4) + m
            }
        }
    }

    static func q5_0(_ src: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
        for b in 0 ..< n {
            let block = src + b * 22, out = dst + b * 32
            let d = block.half(0)
            let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            let qs = block + 6
            for j in 0 ..< 16 {
                let byte = UInt32(qs.byte(j))
                let low = (byte & 0x0F) | (((qh &>> UInt32(j)) & 1) << 4)
                let high = (byte >> 4) | (((qh &>> UInt32(j + 16)) & 1) << 4)
                out[j] = d * Float(Int32(low) - 16)
                out[j + 16] = d * Float(Int32(high) - 16)
            }
        }
    }

    static func q5_1(_ src: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
        for b in 0 ..< n {
            let block = src + b * 24, out = dst + b * 32
            let d = block.half(0), m = block.half(2)
            let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            let qs = block + 8
            for j in 0 ..< 16 {
                let byte = UInt32(qs.byte(j))
                let low = (byte & 0x0F) | (((qh &>> UInt32(j)) & 1) << 4)
                let high = (byte >> 4) | (((qh &>> UInt32(j + 16)) & 1) << 4)
                out[j] = d * Float(low) + m
                out[j + 16] = d * Float(high) + m
            }
        }
    }

    static func q8_0(_ src: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
        for b in 0 ..< n {
            let block = src + b * 34, out = dst + b * 32
            let d = block.half(0)
            let qs = block + 2
            for j in 0 ..< 32 {
                out[j] = Float(Int8(bitPattern: qs.byte(j))) * d
            }
        }
    }
}
