import Foundation
import Testing
import Kernels
import Pruning
import TensorCore
import Transformer
import _TestSupport

/// Pruning with the bf16 products on the real SmolLM2-135M against f32 on the same calibration
/// windows (4 × 256 tokens): DLP's ratios within 1e-3 (measured 8.5e-5) and Wanda + DLP's masks
/// at 50% agreeing on ≥ 99.6% of the block-linear entries.
///
/// Why 99.6% and not the 99.9% first asked for: the masks differ where two scores |W|·‖X‖ of a
/// row lie closer than bf16's perturbation of the input norms, and that perturbation only partly
/// averages out over tokens. Measured on this model (same ratios for both, so only the scores
/// differ): 99.72% at 4 × 256 tokens, 99.84% at 16 × 256, 99.87% at 96 × 128 (12,288 tokens). The
/// part that stays comes from the weights' own rounding, which is the same for every token. (At
/// 70% the masks are chaotic in rounding — see docs/RESULTS.md — so that case is not tested.)
@Suite(.serialized) struct BF16PruningTests {
    @Test(.enabled(if: ComputePrecision.bf16.unsupportedReason == nil, "this CPU has no AVX512_BF16: the bf16 kernels never run"), .enabled(if: TestAssets.has(PipelineTests.smol, PipelineTests.c4)))
    func ratiosAndMasksFollowF32() throws {
        let (checkpoint, model, set) = try PipelineTests.setup(samples: 4, tokens: 256)
        let threads = ComputeThreads(2)
        var ratios: [ComputePrecision: [Double]] = [:], stores: [ComputePrecision: PrunedWeightStore] = [:]
        defer { stores.values.forEach { $0.remove() } }
        for precision in [ComputePrecision.f32, .bf16] {
            let pipeline = PruningPipeline(model: model, windows: set.windows, threads: threads, precision: precision)
            let r = try DLPAllocation(alpha: 0.15).ratios(try pipeline.blockStatistics(), target: 0.5)
            ratios[precision] = r
            let store = try PrunedWeightStore(directory: PipelineTests.temporaryDirectory(), checkpoint: checkpoint)
            stores[precision] = store
            _ = try pipeline.prune(targets: try BlockTargets(pattern: .unstructured, ratios: r, target: 0.5),
                                   pruner: LinearPruner(method: .wanda, threads: threads), store: store)
        }
        let worstRatio = zip(ratios[.f32]!, ratios[.bf16]!).map { abs($0 - $1) }.max()!
        #expect(worstRatio <= 1e-3, "largest DLP ratio difference \(worstRatio)")
        #expect(worstRatio > 0, "identical ratios: the bf16 path did not run")
        var differing = 0, total = 0
        for l in 0..<checkpoint.configuration.layerCount {
            let a = try stores[.f32]!.load(l), b = try stores[.bf16]!.load(l)
            for role in TensorRole.linears {
                let x = a[linear: role].storage, y = b[linear: role].storage
                total += x.count
                for i in x.indices where (x[i] == 0) != (y[i] == 0) { differing += 1 }
            }
        }
        let agreement = 1 - Double(differing) / Double(total)
        #expect(agreement >= 0.996, "masks agree on \(agreement * 100)% of \(total) entries")
    }
}
