import Foundation
import Testing
import Training
import Transformer

/// Golden values printed by `scripts/reference/adamw_reference.py` with torch 2.x (CPU, float32,
/// `torch.optim.AdamW(foreach=False)`, `torch.nn.utils.clip_grad_norm_`) and transformers 4.57
/// (`get_linear_schedule_with_warmup`, `get_cosine_schedule_with_warmup`).
enum TorchReference {
    static let start: [Float] = [0.5, -1.25, 2.0, 0.0, 3e-3, -0.75]
    static let gradients: [[Float]] = [
        [0.1, -0.2, 0.0, 1e-9, 5.0, -0.03],
        [0.05, 0.3, -0.7, 2e-9, -4.0, 0.02],
        [-0.2, 0.1, 0.4, 0.0, 3.0, 0.01],
        [0.0, -0.05, 0.2, -1e-9, 0.5, -0.04],
        [0.3, 0.0, -0.1, 1e-8, -2.0, 0.05],
    ]
    static let learningRates = [1e-3, 2e-3, 5e-4, 1e-3, 3e-3]
    /// Defaults; weight decay 0.01 on the first four values, 0 on the last two (two groups).
    static let adamwTwoGroups: [[Float]] = [
        [0.498995006, -1.24898744, 1.99997997, -9.09090886e-05, 0.00200000009, -0.749000013],
        [0.497120649, -1.24945784, 2.00142813, -0.000354488351, 0.00188374997, -0.74871099],
        [0.497221321, -1.24962926, 2.00150919, -0.000397136086, 0.00172780734, -0.74874258],
        [0.497385383, -1.24982822, 2.00149417, -0.000432079192, 0.00143193058, -0.748353302],
        [0.496329337, -1.25032699, 2.00164223, -0.000994424568, 0.00115500181, -0.748728573],
    ]
    /// betas (0.8, 0.99), eps 1e-6, weight decay 0.1 on all.
    static let adamwSettings: [[Float]] = [
        [0.498950005, -1.2488749, 1.99979997, -9.99001031e-07, 0.00199969998, -0.74892503],
        [0.497020394, -1.24923468, 2.0009675, -4.10499388e-06, 0.00199929997, -0.748600781],
        [0.497143805, -1.24937356, 2.0009377, -4.56321413e-06, 0.00184837403, -0.74862802],
        [0.497321099, -1.24946404, 2.00067878, -4.83072245e-06, 0.00156988797, -0.748126328],
        [0.495917797, -1.24959803, 2.00018001, -1.42751451e-05, 0.00148225226, -0.748500943],
    ]
    /// Peak 2e-4, 3 warm-up steps, 10 total: the rate of steps 0..11.
    static let linearSchedule: [Double] = [
        0, 6.666666666666667e-05, 0.00013333333333333334, 0.00020000000000000001, 0.00017142857142857143,
        0.00014285714285714287, 0.00011428571428571428, 8.5714285714285713e-05, 5.7142857142857142e-05,
        2.8571428571428571e-05, 0, 0,
    ]
    static let cosineSchedule: [Double] = [
        0, 6.666666666666667e-05, 0.00013333333333333334, 0.00020000000000000001, 0.00019009688679024191,
        0.00016234898018587337, 0.00012225209339563145, 7.7747906604368577e-05, 3.7651019814126654e-05,
        9.9031132097580962e-06, 0, 9.9031132097580861e-06,
    ]
    /// Gradients `[0.3, -1.2, 0.5]` and `[2.0, -0.25]`: norm 2.41712642; clipped to norm 1.
    static let clippingGradients: [Float] = [0.3, -1.2, 0.5, 2.0, -0.25]
    static let clippingNorm = 2.41712642
    static let clipped: [Float] = [0.124114275, -0.4964571, 0.206857115, 0.82742846, -0.103428558]
}

@Suite struct OptimizerTests {
    /// Float against PyTorch's float32: within 1e-6 of each value plus 1e-9 (a few ulp after five
    /// steps). Getting ε's place wrong (inside the bias correction) moves the fourth value, whose
    /// gradients are ~1e-9, by ~1e-4; dropping a bias correction moves every value by ~1e-3.
    static func close(_ a: [Float], _ b: [Float]) -> Bool {
        zip(a, b).allSatisfy { abs(Double($0) - Double($1)) <= 1e-6 * abs(Double($1)) + 1e-9 }
    }

    @Test func adamWMatchesPyTorchWithTwoDecayGroups() {
        var parameters = TorchReference.start
        var optimizer = AdamW<Float>(parameterCount: parameters.count)
        for (step, (gradients, rate)) in zip(TorchReference.gradients, TorchReference.learningRates).enumerated() {
            optimizer.step(parameters: &parameters, gradients: gradients, learningRate: rate, decayed: [0..<4])
            #expect(Self.close(parameters, TorchReference.adamwTwoGroups[step]), "step \(step + 1): \(parameters)")
        }
        #expect(optimizer.state.step == 5)
    }

    @Test func adamWMatchesPyTorchWithOtherSettings() {
        var parameters = TorchReference.start
        var optimizer = AdamW<Float>(parameterCount: parameters.count,
                                     settings: .init(beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.1))
        for (step, (gradients, rate)) in zip(TorchReference.gradients, TorchReference.learningRates).enumerated() {
            optimizer.step(parameters: &parameters, gradients: gradients, learningRate: rate)
            #expect(Self.close(parameters, TorchReference.adamwSettings[step]), "step \(step + 1): \(parameters)")
        }
    }

    /// Three steps, the state through JSON, two more steps: bit for bit the five uninterrupted steps.
    @Test func resumedOptimizerEqualsUninterrupted() throws {
        var straight = TorchReference.start, resumed = TorchReference.start
        var a = AdamW<Float>(parameterCount: 6), b = AdamW<Float>(parameterCount: 6)
        for (step, (gradients, rate)) in zip(TorchReference.gradients, TorchReference.learningRates).enumerated() {
            a.step(parameters: &straight, gradients: gradients, learningRate: rate)
            b.step(parameters: &resumed, gradients: gradients, learningRate: rate)
            if step == 2 {
                let data = try JSONEncoder().encode(b.state)
                b = try AdamW(resuming: try JSONDecoder().decode(AdamW<Float>.State.self, from: data), parameterCount: 6)
            }
        }
        #expect(straight.map(\.bitPattern) == resumed.map(\.bitPattern))
        #expect(throws: TrainingError.self) { try AdamW<Float>(resuming: a.state, parameterCount: 5) }
    }

    @Test func schedulesMatchTransformers() {
        for (decay, expected) in [(LearningRateSchedule.Decay.linear, TorchReference.linearSchedule), (.cosine, TorchReference.cosineSchedule)] {
            let schedule = LearningRateSchedule(peak: 2e-4, warmupSteps: 3, totalSteps: 10, decay: decay)
            for (step, rate) in expected.enumerated() {
                #expect(abs(schedule.learningRate(step: step) - rate) <= 1e-15 * 2e-4, "\(decay) step \(step)")
            }
        }
    }

    /// transformers' `get_constant_schedule_with_warmup`: `s / max(1, W)` during the warm-up, then 1.
    @Test func constantScheduleHoldsThePeakAfterTheWarmUp() {
        let schedule = LearningRateSchedule(peak: 2e-4, warmupSteps: 3, totalSteps: 10, decay: .constant)
        let expected = [0, 2e-4 / 3, 4e-4 / 3] + Array(repeating: 2e-4, count: 8)
        #expect(expected.indices.map { schedule.learningRate(step: $0) } == expected)
    }

    @Test func clippingMatchesPyTorch() {
        var gradients = TorchReference.clippingGradients
        let norm = GradientClipping.clip(&gradients, maxNorm: 1)
        #expect(abs(norm - TorchReference.clippingNorm) <= 1e-6 * TorchReference.clippingNorm)
        #expect(Self.close(gradients, TorchReference.clipped))
        var unclipped = TorchReference.clippingGradients
        GradientClipping.clip(&unclipped, maxNorm: 100)
        #expect(unclipped == TorchReference.clippingGradients, "below the limit the gradients are left as they are")
    }

    @Test func invalidSettingsAreRefused() {
        #expect(throws: TrainingError.self) { try LoRAConfiguration(rank: 0).validate() }
        #expect(throws: TrainingError.self) { try LoRAConfiguration(dropout: 1).validate() }
        #expect(throws: TrainingError.self) { try LoRAConfiguration(targets: [.tokenEmbedding]).validate() }
        #expect(throws: TrainingError.self) { try LearningRateSchedule(peak: 1e-4, warmupSteps: 11, totalSteps: 10).validate() }
        #expect(throws: TrainingError.self) { try AdamW<Float>.Settings(beta2: 1).validate() }
        #expect(throws: Never.self) { try LoRAConfiguration().validate() }
    }

    /// Every subset of the seven linears reads back from its tag; strings the tag never is do not.
    @Test func targetTagsReadBack() throws {
        for bits in 1..<(1 << TensorRole.linears.count) {
            let targets = TensorRole.linears.indices.filter { bits & (1 << $0) != 0 }.map { TensorRole.linears[$0] }
            let tag = LoRAConfiguration.targetsTag(targets)
            #expect(LoRAConfiguration.targets(fromTag: tag) == targets, "\(tag)")
        }
        #expect(LoRAConfiguration.targetsTag([.query, .value]) == "qv" && LoRAConfiguration.targetsTag([.gate, .up]) == "gate+up")
        for bad in ["", "x", "vq", "qq", "q+v", "gate+", "+up", "up+gate", "gateup", "q_proj", "All"] {
            #expect(LoRAConfiguration.targets(fromTag: bad) == nil, "\(bad)")
        }
    }
}
