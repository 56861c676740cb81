import Foundation
import Testing
import Kernels
import TensorCore
import _TestSupport

/// The LM head + log-softmax by vocabulary tiles against its twin: the whole `[rows, V]` logits
/// (the same product) and `SoftmaxKernel.logSumExp` per row, and against the definition in Double.
@Suite struct FusedLogSoftmaxHeadTests {
    /// `(rows, in, V)`: a vocabulary of one partial tile, exactly one tile, tiles plus a tail that
    /// is not a multiple of 32, several tiles; odd rows; one row.
    static let shapes = [(5, 24, 31), (17, 64, 1024), (33, 48, 2 * 1024 + 77), (1, 32, 3000), (40, 96, 4 * 1024)]

    struct Case {
        var x: [Float], w: [Float], targets: [Int32]
    }

    /// Rows with logits of size up to ~±40 (so the tiles' maxima differ a lot), a target in every
    /// tile position including the last column, and some rows without a target (−1).
    static func makeCase(_ shape: (Int, Int, Int)) -> Case {
        let (m, k, v) = shape
        var generator = SeededGenerator(seed: UInt64(m * 7919 + k * 31 + v))
        let x = generator.uniform(count: m * k, scale: 3)
        var w = generator.uniform(count: v * k, scale: 0.5)
        // One strongly preferred vocabulary entry per few rows' direction: makes the maximum sit in
        // different tiles for different rows.
        for j in stride(from: 0, to: v, by: max(1, v / 5)) {
            for i in 0..<k { w[j * k + i] *= 4 }
        }
        var targets = [Int32](repeating: 0, count: m)
        for r in 0..<m {
            targets[r] = r % 4 == 3 ? -1 : r == 0 ? Int32(v - 1) : Int32(generator.next() % UInt64(v))
        }
        return Case(x: x, w: w, targets: targets)
    }

    static func fused(_ c: Case, shape: (Int, Int, Int), weight: (UnsafePointer<Float>) -> FusedLogSoftmaxHead.Weight,
                      threads: Int) -> [Double] {
        let (m, k, v) = shape
        var out = [Double](repeating: .nan, count: m)
        c.x.withUnsafeBufferPointer { xb in
            c.w.withUnsafeBufferPointer { wb in
                c.targets.withUnsafeBufferPointer { tb in
                    FusedLogSoftmaxHead.negativeLogLikelihoods(xb.baseAddress!, rows: m, inputSize: k,
                                                               weight: weight(wb.baseAddress!), vocabulary: v,
                                                               targets: tb.baseAddress!, output: &out,
                                                               threads: ComputeThreads(threads))
                }
            }
        }
        return out
    }

    /// The twin: whole logits rows `y` `[rows, V]`, then log-sum-exp minus the target's logit.
    static func twin(_ logits: [Float], targets: [Int32], vocabulary v: Int) -> [Double] {
        logits.withUnsafeBufferPointer { lb in
            targets.enumerated().map { r, t in
                t < 0 ? .nan : SoftmaxKernel.logSumExp(lb.baseAddress! + r * v, count: v) - Double(lb[r * v + Int(t)])
            }
        }
    }

    @Test(arguments: shapes)
    func f32MatchesTwinAndDefinition(_ shape: (Int, Int, Int)) {
        let (m, k, v) = shape
        let c = Self.makeCase(shape)
        let fused = Self.fused(c, shape: shape, weight: { .f32($0) }, threads: 2)
        var logits = [Float](repeating: 0, count: m * v)
        c.x.withUnsafeBufferPointer { xb in
            c.w.withUnsafeBufferPointer { wb in
                GEMM.linear(input: xb.baseAddress!, tokens: m, inputSize: k, weight: wb.baseAddress!, outputSize: v, output: &logits)
            }
        }
        let twin = Self.twin(logits, targets: c.targets, vocabulary: v)
        for r in 0..<m {
            guard c.targets[r] >= 0 else {
                #expect(fused[r].isNaN, "row \(r) has no target: its output must stay untouched")
                continue
            }
            #expect(abs(fused[r] - twin[r]) <= 1e-5 * max(1, abs(twin[r])), "row \(r): fused \(fused[r]) twin \(twin[r])")
            // Definition, in Double from the operands.
            var row = [Double](repeating: 0, count: v)
            for j in 0..<v {
                var s = 0.0
                for i in 0..<k { s += Double(c.x[r * k + i]) * Double(c.w[j * k + i]) }
                row[j] = s
            }
            let top = row.max()!
            let definition = top + log(row.reduce(0) { $0 + exp($1 - top) }) - row[Int(c.targets[r])]
            #expect(abs(fused[r] - definition) <= 1e-4 * max(1, abs(definition)), "row \(r): fused \(fused[r]) definition \(definition)")
        }
    }

    @Test(.enabled(if: ComputePrecision.bf16.unsupportedReason == nil, "this CPU has no AVX512_BF16: the bf16 kernels never run"), arguments: shapes)
    func bf16MatchesTwin(_ shape: (Int, Int, Int)) throws {
        let (m, k, v) = shape
        let c = Self.makeCase(shape)
        let packed = c.w.withUnsafeBufferPointer { PackedBF16Weight($0.baseAddress!, outputSize: v, inputSize: k) }
        let fused = Self.fused(c, shape: shape, weight: { _ in .bf16(packed) }, threads: 2)
        var logits = [Float](repeating: 0, count: m * v)
        var scratch = [UInt16](repeating: 0, count: GEMM.bf16ScratchCount(tokens: m, inputSize: k))
        c.x.withUnsafeBufferPointer { xb in
            GEMM.linearBF16(input: xb.baseAddress!, tokens: m, weight: packed, output: &logits,
                            threads: ComputeThreads(2), scratch: &scratch)
        }
        let twin = Self.twin(logits, targets: c.targets, vocabulary: v)
        for r in 0..<m where c.targets[r] >= 0 {
            #expect(abs(fused[r] - twin[r]) <= 1e-5 * max(1, abs(twin[r])), "row \(r): fused \(fused[r]) twin \(twin[r])")
        }
    }

    /// The tiles are the same calls whichever thread runs them and merge in tile order: any
    /// thread count gives the same bits.
    @Test func threadCountChangesNoBit() throws {
        let shape = (33, 48, 5 * 1024 + 77)
        let c = Self.makeCase(shape)
        let one = Self.fused(c, shape: shape, weight: { .f32($0) }, threads: 1)
        for threads in [2, 3, 5] {
            let other = Self.fused(c, shape: shape, weight: { .f32($0) }, threads: threads)
            #expect(zip(one, other).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }, "\(threads) threads")
        }
        if ComputePrecision.bf16.unsupportedReason == nil {
            let packed = c.w.withUnsafeBufferPointer { PackedBF16Weight($0.baseAddress!, outputSize: shape.2, inputSize: shape.1) }
            let oneBF16 = Self.fused(c, shape: shape, weight: { _ in .bf16(packed) }, threads: 1)
            for threads in [2, 3] {
                let other = Self.fused(c, shape: shape, weight: { _ in .bf16(packed) }, threads: threads)
                #expect(zip(oneBF16, other).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }, "bf16, \(threads) threads")
            }
        }
    }
}
