/// ggml's k-quant super-block formats (block = 256 values). Each kernel decodes `n` consecutive
/// blocks from `src` into `256·n` floats at `dst`.
///
/// Q4_K (144 bytes) and Q5_K (176): binary16 `d`, `dmin`; 12 bytes packing eight 6-bit scales
/// and mins (one per 32 values); Q5_K then `qh[32]` (bit `i` of `qh[j]` is bit 4 of value
/// `32i + j`); then `qs[128]`, where bytes `32g..<32g+32` hold values `64g + j` (low nibble) and
/// `64g + 32 + j` (high nibble). Value = `(d · scale) · q − (dmin · min)`.
///
/// Q6_K (210): `ql[128]`, `qh[64]`, int8 `scales[16]` (one per 16 values), binary16 `d`. In each
/// half `h` of 128 values, value `128h + 32k + j` takes 4 low bits from `ql[64h + 32(k & 1) + j]`
/// (low nibble for k < 2, high for k ≥ 2) and 2 high bits `(qh[32h + j] >> 2k) & 3`, minus 32.
/// Value = `(d · scale) · q`.
///
/// The operation order (scale products first, no fused multiply-add) matches gguf-py.
enum DequantizeKQuants {
    /// The 6-bit scale and min of sub-block `i` (0..<8) from the 12 packed bytes at `s`.
    @inline(__always)
    static func scaleMin(_ s: UnsafeRawPointer, _ i: Int) -> (scale: Float, min: Float) {
        if i < 4 {
            return (Float(s.byte(i) & 0x3F), Float(s.byte(i + 4) & 0x3F))
        }
        let scale = (s.byte(i + 4) & 0x0F) | ((s.byte(i - 4) >> 2) & 0x30)
        let min = (s.byte(i + 4) >> 4) | ((s.byte(i) >> 2) & 0x30)
        return (Float(scale), Float(min))
    }

    static func q4_K(_ src: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
        for b in 0 ..< n {
            let block = src + b * 144, out = dst + b * 256
            let d = block.half(0), dmin = block.half(2)
            let scales = block + 4, qs = block + 16
            for g in 0 ..< 4 {
                let (sc0, m0) = scaleMin(scales, 2 * g), (sc1, m1) = scaleMin(scales, 2 * g + 1)
                let d0 = d * sc0, dm0 = dmin * m0, d1 = d * sc1, dm1 = dmin * m1
                let q = qs + 32 * g, o = out + 64 * g
                for j in 0 ..< 32 {
                    let byte = q.byte(j)
                    o[j] = d0 * Float(byte & 0x0F) - dm0
                    o[j + 32] = d1 * Float(byte >> 4) - dm1
                }
            }
        }
    }

    static func q5_K(_ src: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
        for b in 0 ..< n {
            let block = src + b * 176, out = dst + b * 256
            let d = block.half(0), dmin = block.half(2)
            let scales = block + 4, qh = block + 16, qs = block + 48
            for g in 0 ..< 4 {
                let (sc0, m0) = scaleMin(scales, 2 * g), (sc1, m1) = scaleMin(scales, 2 * g + 1)
                let d0 = d * sc0, dm0 = dmin * m0, d1 = d * sc1, dm1 = dmin * m1
                let q = qs + 32 * g, o = out + 64 * g
                let shift0 = UInt8(2 * g), shift1 = UInt8(2 * g + 1)
                for j in 0 ..< 32 {
                    let byte = q.byte(j), high = qh.byte(j)
                    let low = (byte & 0x0F) | (((high &>> shift0) & 1) << 4)
                    let top = (byte >> 4) | (((high &>> shift1) & 1) << 4)
                    o[j] = d0 * Float(low) - dm0
                    o[j + 32] = d1 * Float(top) - dm1
                }
            }
        }
    }

    static func q6_K(_ src: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
        for b in 0 ..< n {
            let block = src + b * 210, out = dst + b * 256
            let d = block.half(208)
            let scales = block + 192
            for h in 0 ..< 2 {
                let ql = block + 64 * h, qh = block + 128 + 32 * h, o = out + 128 * h
                for k in 0 ..< 4 {
                    let lows = ql + 32 * (k & 1), nibbleShift = UInt8(k < 2 ? 0 : 4), highShift = UInt8(2 * k)
                    let ok = o + 32 * k
                    for half in 0 ..< 2 {
                        let scale = d * Float(Int8(bitPattern: scales.byte(8 * h + 2 * k + half)))
                        let base = 16 * half
                        for j in base ..< base + 16 {
                            let low = Int32((lows.byte(j) &>> nibbleShift) & 0x0F)
                            let high = Int32((qh.byte(j) &>> highShift) & 3) &<< 4
                            ok[j] = scale * Float((low | high) &- 32)
                        }
                    }
                }
            }
        }
    }
}
