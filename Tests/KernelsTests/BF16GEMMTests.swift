import Testing
import Kernels
import TensorCore
import _TestSupport

/// The bf16 linear kernel against its definition: the same bf16-rounded operands multiplied and
/// summed in Double.
@Suite struct BF16GEMMTests {
    /// Shapes `(tokens, in, out)`: rows that are and are not multiples of the 8-row tile, odd
    /// inputs (a zero-padded last pair), outputs that do not fill the last 32-column panel, one row.
    @Test(.enabled(if: ComputePrecision.bf16.unsupportedReason == nil, "this CPU has no AVX512_BF16: the bf16 kernels never run"), arguments: [(37, 33, 45), (64, 576, 96), (1, 7, 3), (130, 64, 1), (9, 1536, 33), (16, 2, 32)])
    func matchesDefinition(_ shape: (Int, Int, Int)) throws {
        let (m, k, n) = shape
        var generator = SeededGenerator(seed: UInt64(m * 1000 + k * 10 + n))
        let x = generator.uniform(count: m * k, scale: 2), w = generator.uniform(count: n * k, scale: 0.1)
        let bias = generator.uniform(count: n), start = generator.uniform(count: m * n)
        let round = { (v: Float) -> Double in Double(HalfConversion.float(fromBFloat16: HalfConversion.bfloat16(from: v))) }
        let packed = w.withUnsafeBufferPointer { PackedBF16Weight($0.baseAddress!, outputSize: n, inputSize: k) }
        var scratch = [UInt16](repeating: 0, count: GEMM.bf16ScratchCount(tokens: m, inputSize: k))
        for (accumulate, withBias) in [(false, false), (true, false), (false, true), (true, true)] {
            var y = accumulate ? start : [Float](repeating: .nan, count: m * n)
            x.withUnsafeBufferPointer { xb in
                bias.withUnsafeBufferPointer { bb in
                    GEMM.linearBF16(input: xb.baseAddress!, tokens: m, weight: packed, bias: withBias ? bb.baseAddress! : nil,
                                    output: &y, accumulate: accumulate, threads: ComputeThreads(2), scratch: &scratch)
                }
            }
            var worst = 0.0
            for r in 0..<m {
                for j in 0..<n {
                    var sum = 0.0, magnitude = 0.0
                    for i in 0..<k {
                        let term = round(x[r * k + i]) * round(w[j * k + i])
                        sum += term
                        magnitude += abs(term)
                    }
                    if withBias { sum += Double(bias[j]) }
                    if accumulate { sum += Double(start[r * n + j]) }
                    // f32 accumulation of k exact products: error ≤ k·2⁻²⁴·Σ|terms| (plus the bias/start add).
                    let bound = (Double(k) + 2) * 0x1p-24 * (magnitude + 2) + 1e-7
                    worst = max(worst, abs(Double(y[r * n + j]) - sum) / bound)
                }
            }
            #expect(worst <= 1, "m=\(m) k=\(k) n=\(n) accumulate \(accumulate) bias \(withBias): error \(worst)× the bound")
        }
    }

    /// Each output is one sum in one order whatever the rows' split: 1, 2, 3 and 5 threads give
    /// the same bits.
    @Test(.enabled(if: ComputePrecision.bf16.unsupportedReason == nil, "this CPU has no AVX512_BF16: the bf16 kernels never run")) func threadCountChangesNoBit() throws {
        let (m, k, n) = (203, 96, 70)
        var generator = SeededGenerator(seed: 7)
        let x = generator.uniform(count: m * k), w = generator.uniform(count: n * k)
        let packed = w.withUnsafeBufferPointer { PackedBF16Weight($0.baseAddress!, outputSize: n, inputSize: k) }
        var scratch = [UInt16](repeating: 0, count: GEMM.bf16ScratchCount(tokens: m, inputSize: k))
        let results = [1, 2, 3, 5].map { threads -> [Float] in
            var y = [Float](repeating: 0, count: m * n)
            GEMM.linearBF16(input: x, tokens: m, weight: packed, output: &y, threads: ComputeThreads(threads), scratch: &scratch)
            return y
        }
        for y in results.dropFirst() { #expect(y.map(\.bitPattern) == results[0].map(\.bitPattern)) }
    }
}
