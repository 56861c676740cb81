import CSparse
import TensorCore

/// The number format of the forward pass's matrix products.
///
/// `bf16`: weights and activations rounded to bfloat16 (nearest even) for the products of the
/// linear layers and the LM head, accumulated in f32 (AVX512_BF16 `vdpbf16ps`). Norms, RoPE,
/// attention, softmax, and everything pruning measures (input norms, Hessians, scores) stay f32.
public enum ComputePrecision: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case f32, bf16

    /// Why this CPU cannot compute in this precision, or nil when it can.
    public var unsupportedReason: String? {
        switch self {
        case .f32: return nil
        case .bf16:
            return Int(csparse_cpu_features()) & Int(CSPARSE_AVX512BF16) != 0 ? nil
                : "bf16 needs the AVX512_BF16 instructions (vdpbf16ps), which this CPU lacks; use --precision f32"
        }
    }

    public var description: String { rawValue }
}

/// A linear layer's weight `[out, in]` packed for ``GEMM/linearBF16(input:tokens:weight:bias:output:accumulate:threads:scratch:)``:
/// bf16 values in panels of 32 output rows, each input pair side by side.
public final class PackedBF16Weight: @unchecked Sendable {
    public let outputSize: Int
    public let inputSize: Int
    let storage: UnsafeMutablePointer<UInt16>

    /// Packs `weight` (`[outputSize, inputSize]`, row-major f32).
    public init(_ weight: UnsafePointer<Float>, outputSize: Int, inputSize: Int) {
        precondition(outputSize > 0 && inputSize > 0, "bf16 weight must be non-empty")
        self.outputSize = outputSize
        self.inputSize = inputSize
        let count = Int(csparse_bf16_packed_count(Int64(outputSize), Int64(inputSize)))
        storage = .allocate(capacity: count)
        csparse_bf16_pack_weight(weight, Int64(outputSize), Int64(inputSize), storage)
    }

    /// Packs a `Matrix` weight.
    public convenience init(_ weight: Matrix) {
        self.init(weight.storage.withUnsafeBufferPointer { $0.baseAddress! }, outputSize: weight.rows, inputSize: weight.columns)
    }

    /// Bytes of the packed values.
    public var byteCount: Int { Int(csparse_bf16_packed_count(Int64(outputSize), Int64(inputSize))) * 2 }

    deinit { storage.deallocate() }
}

extension GEMM {
    /// bf16 values of scratch ``linearBF16(input:tokens:weight:bias:output:accumulate:threads:scratch:)``
    /// needs for `tokens` rows of `inputSize` inputs.
    public static func bf16ScratchCount(tokens: Int, inputSize: Int) -> Int {
        tokens * 2 * Int(csparse_bf16_pairs(Int64(inputSize)))
    }

    /// Linear layer `Y = X · Wᵀ + bias` (or `Y += ...` when `accumulate`) in bf16 with f32
    /// accumulation (``ComputePrecision/bf16``; the caller checked ``ComputePrecision/unsupportedReason``).
    /// `x` `[tokens, in]` is rounded into `scratch` (``bf16ScratchCount(tokens:inputSize:)`` values);
    /// rows are split over `threads`. Every output is the same sum in the same order for any thread
    /// count, so the result does not depend on `threads`.
    public static func linearBF16(input x: UnsafePointer<Float>, tokens: Int, weight: PackedBF16Weight,
                                  bias: UnsafePointer<Float>? = nil, output y: UnsafeMutablePointer<Float>,
                                  accumulate: Bool = false, threads: ComputeThreads, scratch: UnsafeMutablePointer<UInt16>) {
        guard tokens > 0 else { return }
        let (k, n) = (weight.inputSize, weight.outputSize)
        let accumulate = startFromBias(bias, output: y, tokens: tokens, outputSize: n, accumulate: accumulate)
        let width = 2 * Int(csparse_bf16_pairs(Int64(k)))
        let (xa, ya, sa) = (UInt(bitPattern: x), UInt(bitPattern: y), UInt(bitPattern: scratch))
        let packed = UInt(bitPattern: weight.storage)
        // Row ranges in multiples of 8 (the kernel's register tile), about equal per thread.
        let blocks = (tokens + 7) / 8, parts = min(threads.count, blocks)
        let flag: Int32 = accumulate ? 1 : 0
        parallelFor(0..<parts, threads: ComputeThreads(max(1, parts))) { range in
            for part in range {
                let r0 = min(tokens, blocks * part / parts * 8), r1 = min(tokens, blocks * (part + 1) / parts * 8)
                guard r0 < r1 else { continue }
                let x = UnsafePointer<Float>(bitPattern: xa)!, scratch = UnsafeMutablePointer<UInt16>(bitPattern: sa)!
                csparse_bf16_convert_rows(x + r0 * k, Int64(r1 - r0), Int64(k), Int64(k), scratch + r0 * width)
                csparse_gemm_bf16_avx512(scratch, Int64(k), UnsafePointer<UInt16>(bitPattern: packed)!, Int64(n),
                                         UnsafeMutablePointer<Float>(bitPattern: ya)!, Int64(n), flag, Int64(r0), Int64(r1))
            }
        }
    }
}
