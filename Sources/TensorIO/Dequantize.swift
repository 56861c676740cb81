import Foundation
import TensorCore

/// Decodes `count` stored values of type `dtype` from `bytes` into `out` (row-major, as stored).
///
/// Float types are widened exactly (F16/BF16 → F32 is exact; F64 rounds to nearest). Quantized
/// types follow ggml's block layouts (`ggml-quants.c`) with the float operations in the same
/// order as gguf-py's `gguf.quants` (for example Q4_K is `(d·scale)·q − (dmin·min)`, two roundings,
/// no fused multiply-add), so the result is bit-identical to that reference.
///
/// Large inputs are split into contiguous block ranges decoded on all cores.
///
/// - Precondition: `count` is a whole number of blocks and `bytes` holds at least
///   `dtype.byteCount(elements: count)` bytes (programmer error: `GGUFFile` validates files).
public func dequantize(_ dtype: DType, bytes: UnsafeRawBufferPointer, count: Int, into out: UnsafeMutablePointer<Float>) {
    guard count > 0 else { return }
    let blockCount = count / dtype.blockSize
    precondition(blockCount * dtype.blockSize == count, "\(count) is not a whole number of \(dtype) blocks")
    precondition(bytes.count >= blockCount * dtype.bytesPerBlock, "too few bytes for \(count) \(dtype) values")
    guard let source = bytes.baseAddress else { return }
    let minimumElementsPerTask = 1 << 17
    let taskCount = min(ProcessInfo.processInfo.activeProcessorCount * 4, count / minimumElementsPerTask)
    if taskCount <= 1 {
        dequantizeBlocks(dtype, source: source, blocks: 0 ..< blockCount, into: out)
        return
    }
    let blocksPerTask = (blockCount + taskCount - 1) / taskCount
    let shared = SharedPointers(source: source, destination: out)
    DispatchQueue.concurrentPerform(iterations: taskCount) { task in
        let start = task * blocksPerTask
        let end = min(blockCount, start + blocksPerTask)
        if start < end { dequantizeBlocks(dtype, source: shared.source, blocks: start ..< end, into: shared.destination) }
    }
}

/// Source and destination shared by tasks that read and write disjoint block ranges.
private struct SharedPointers: @unchecked Sendable {
    let source: UnsafeRawPointer
    let destination: UnsafeMutablePointer<Float>
}

/// Decodes the blocks `blocks` of a tensor whose first block is at `source`; block `b` lands at
/// `out + b · blockSize`.
func dequantizeBlocks(_ dtype: DType, source: UnsafeRawPointer, blocks: Range<Int>, into out: UnsafeMutablePointer<Float>) {
    let src = source + blocks.lowerBound * dtype.bytesPerBlock
    let dst = out + blocks.lowerBound * dtype.blockSize
    let n = blocks.count
    switch dtype {
    case .f32: UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: n * 4)
    case .f16: DequantizeFloat.f16(src, n, dst)
    case .bf16: DequantizeFloat.bf16(src, n, dst)
    case .f64: DequantizeFloat.f64(src, n, dst)
    case .q4_0: DequantizeLegacy.q4_0(src, n, dst)
    case .q4_1: DequantizeLegacy.q4_1(src, n, dst)
    case .q5_0: DequantizeLegacy.q5_0(src, n, dst)
    case .q5_1: DequantizeLegacy.q5_1(src, n, dst)
    case .q8_0: DequantizeLegacy.q8_0(src, n, dst)
    case .q4_K: DequantizeKQuants.q4_K(src, n, dst)
    case .q5_K: DequantizeKQuants.q5_K(src, n, dst)
    case .q6_K: DequantizeKQuants.q6_K(src, n, dst)
    }
}

/// Little-endian loads at any byte offset.
extension UnsafeRawPointer {
    @inline(__always) func half(_ offset: Int) -> Float {
        Float(Float16(bitPattern: UInt16(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
    }

    @inline(__always) func byte(_ offset: Int) -> UInt8 { load(fromByteOffset: offset, as: UInt8.self) }
}

/// Widening of the float storage types: `n` values.
enum DequantizeFloat {
    static func f16(_ src: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
        for i in 0 ..< n { dst[i] = src.half(2 * i) }
    }

    static func bf16(_ src: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
        for i in 0 ..< n {
            let bits = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            dst[i] = Float(bitPattern: UInt32(bits) << 16)
        }
    }

    static func f64(_ src: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
        for i in 0 ..< n {
            dst[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
        }
    }
}
