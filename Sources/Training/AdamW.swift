import Foundation

/// AdamW (Loshchilov & Hutter 2019) exactly as `torch.optim.AdamW` computes it (its
/// single-tensor path, `decoupled_weight_decay`), for parameter `p`, gradient `g`, step `k ≥ 1`:
///
///     p ← p · (1 − lr·λ)                       (decoupled decay, before the update)
///     m ← β₁·m + (1 − β₁)·g
///     v ← β₂·v + (1 − β₂)·g²
///     denom = √v / √(1 − β₂ᵏ) + ε              (ε after the bias-corrected root)
///     p ← p − (lr / (1 − β₁ᵏ)) · m / denom
///
/// Defaults are PyTorch's: β₁ 0.9, β₂ 0.999, ε 1e-8, λ 0.01. Moments and parameters are in the
/// training precision (Float, as PyTorch keeps them for float32 parameters); the bias
/// corrections and step size are computed in Double, as Python computes them, then rounded.
/// The state (``State``) is `Codable`, so a run can resume exactly.
public struct AdamW<Scalar: TrainingScalar>: Sendable {
    /// Hyperparameters (the learning rate comes with each step, from the schedule).
    public struct Settings: Sendable, Codable, Equatable {
        public var beta1: Double
        public var beta2: Double
        public var epsilon: Double
        public var weightDecay: Double

        public init(beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0.01) {
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
            self.weightDecay = weightDecay
        }

        /// Throws unless `0 ≤ β < 1`, `ε > 0`, `λ ≥ 0`.
        public func validate() throws {
            for (name, beta) in [("beta1", beta1), ("beta2", beta2)] where !(beta >= 0 && beta < 1) {
                throw TrainingError.invalidSetting(name: "AdamW \(name)", value: "\(beta)", valid: "a number in [0, 1)")
            }
            guard epsilon > 0 else { throw TrainingError.invalidSetting(name: "AdamW epsilon", value: "\(epsilon)", valid: "> 0") }
            guard weightDecay >= 0 else {
                throw TrainingError.invalidSetting(name: "AdamW weight decay", value: "\(weightDecay)", valid: "≥ 0")
            }
        }
    }

    /// Everything a resumed run needs: the settings, the step count and both moments.
    public struct State: Sendable, Codable, Equatable {
        public var settings: Settings
        /// Steps taken so far (`k` of the last step).
        public var step: Int
        public var firstMoment: [Scalar]    // m, one per parameter
        public var secondMoment: [Scalar]   // v, one per parameter

        /// A saved state (a resumed run reads these back from its checkpoint file).
        public init(settings: Settings, step: Int, firstMoment: [Scalar], secondMoment: [Scalar]) {
            self.settings = settings
            self.step = step
            self.firstMoment = firstMoment
            self.secondMoment = secondMoment
        }
    }

    public private(set) var state: State

    /// A fresh optimizer for `parameterCount` values (moments zero, no step taken).
    public init(parameterCount: Int, settings: Settings = Settings()) {
        state = State(settings: settings, step: 0, firstMoment: [Scalar](repeating: 0, count: parameterCount),
                      secondMoment: [Scalar](repeating: 0, count: parameterCount))
    }

    /// An optimizer resuming from `state`; throws when it holds another number of parameters.
    public init(resuming state: State, parameterCount: Int) throws {
        guard state.firstMoment.count == parameterCount, state.secondMoment.count == parameterCount, state.step >= 0 else {
            throw TrainingError.stateMismatch(name: "optimizer state", expected: "\(parameterCount) parameters",
                                              actual: "\(state.firstMoment.count)/\(state.secondMoment.count) moments at step \(state.step)")
        }
        self.state = state
    }

    /// One step on `parameters` with `gradients` (same count) at learning rate `learningRate`.
    /// Weight decay applies to the indices in `decayed` (nil: all, PyTorch's single group).
    public mutating func step(parameters: inout [Scalar], gradients: [Scalar], learningRate: Double,
                              decayed: [Range<Int>]? = nil) {
        precondition(parameters.count == state.firstMoment.count && gradients.count == parameters.count,
                     "AdamW: \(parameters.count) parameters, \(gradients.count) gradients, state for \(state.firstMoment.count)")
        let s = state.settings
        state.step += 1
        let k = Double(state.step)
        let decayFactor = Scalar(1 - learningRate * s.weightDecay)
        for range in decayed ?? [0..<parameters.count] where s.weightDecay != 0 {
            for i in range { parameters[i] *= decayFactor }
        }
        let stepSize = Scalar(learningRate / (1 - pow(s.beta1, k)))
        let correction2Root = Scalar((1 - pow(s.beta2, k)).squareRoot())
        let (beta1, beta2) = (Scalar(s.beta1), Scalar(s.beta2))
        let (oneMinusBeta1, oneMinusBeta2, epsilon) = (Scalar(1 - s.beta1), Scalar(1 - s.beta2), Scalar(s.epsilon))
        for i in 0..<parameters.count {
            let g = gradients[i]
            let m = beta1 * state.firstMoment[i] + oneMinusBeta1 * g
            let v = beta2 * state.secondMoment[i] + oneMinusBeta2 * g * g
            state.firstMoment[i] = m
            state.secondMoment[i] = v
            parameters[i] -= stepSize * m / (v.squareRoot() / correction2Root + epsilon)
        }
    }
}
