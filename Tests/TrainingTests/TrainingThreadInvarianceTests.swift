import Kernels
import Testing
import Training
import _TestSupport

/// A training pass gives the same bits with any thread count: its products are cut into tiles
/// by their shape (`GEMM.multiply(..., threads:)`), the attention's heads and the element-wise
/// loops write disjoint outputs, and every sum over rows or heads runs in a fixed order. Loss,
/// LoRA gradients and every block's input gradient of SmolLM2-135M's first two blocks on the
/// golden batch (2 × 64 tokens: 16-row tiles, and loops long enough to run on several threads),
/// with dropout, compared bit for bit with 1, 2 and 3 threads.
@Suite(.serialized) struct TrainingThreadInvarianceTests {
    @Test(.enabled(if: TestAssets.has(PEFTGoldenTests.smol, PEFTGoldenTests.folder)))
    func gradientsAreTheSameForAnyThreadCount() throws {
        let setup = try PEFTGoldenTests.Setup<Float>()
        let batch = try PEFTGoldenTests.Golden().batch
        let previous = BLASRuntime.threadCount
        defer { BLASRuntime.setThreadCount(previous) }
        func pass(_ threads: Int) -> (losses: [UInt64], gradients: [UInt32], inputs: [UInt32]) {
            BLASRuntime.setThreadCount(threads)
            var gradients = setup.start.zeros()
            var losses = [UInt64](), inputs = [UInt32]()
            for (s, tokens) in batch.enumerated() {
                let options = TrainingPassOptions(dropout: LoRADropout(probability: 0.1, seed: UInt64(s + 1)),
                                                  recordsBlockInputGradients: true)
                let result = setup.model.accumulateGradients(tokens: tokens, targets: Array(tokens.dropFirst()) + [-1],
                                                             parameters: setup.start, into: &gradients,
                                                             normalizer: 126, options: options)
                losses.append(result.lossSum.bitPattern)
                inputs += result.blockInputGradients.flatMap { $0.storage.map(\.bitPattern) }
            }
            return (losses, gradients.values.map(\.bitPattern), inputs)
        }
        let one = pass(1)
        #expect(one.gradients.contains { $0 != 0 } && one.inputs.count == 2 * 2 * 64 * 576)
        for threads in [2, 3] {
            let other = pass(threads)
            #expect(other.losses == one.losses, "\(threads) threads: loss")
            #expect(other.gradients == one.gradients, "\(threads) threads: LoRA gradients")
            #expect(other.inputs == one.inputs, "\(threads) threads: block input gradients")
        }
    }
}
