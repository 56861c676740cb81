import Foundation

/// The learning rate of each optimizer step: linear warm-up from 0, then linear or cosine decay
/// to 0 at `totalSteps`, as transformers' `get_linear_schedule_with_warmup` and
/// `get_cosine_schedule_with_warmup` (one half cosine cycle), or the peak to the end
/// (`get_constant_schedule_with_warmup`: a run stopped early is a shorter run). With `s` the number of steps
/// already taken (0 for the first step — so the first step of a warm-up has rate 0, as with
/// transformers' `LambdaLR`), `W` warm-up steps, `S` total steps:
///
///     s < W:   peak · s / max(1, W)
///     linear:  peak · max(0, (S − s) / max(1, S − W))
///     cosine:  peak · max(0, ½·(1 + cos(π · (s − W) / max(1, S − W))))
///     constant: peak
public struct LearningRateSchedule: Sendable, Codable, Equatable {
    /// The shape after the warm-up.
    public enum Decay: String, Sendable, Codable, CaseIterable {
        case linear, cosine, constant
    }

    public var peak: Double
    public var warmupSteps: Int
    public var totalSteps: Int
    public var decay: Decay

    public init(peak: Double, warmupSteps: Int, totalSteps: Int, decay: Decay = .linear) {
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.decay = decay
    }

    /// Throws unless the peak is positive and `0 ≤ warm-up ≤ total`, total ≥ 1.
    public func validate() throws {
        guard peak > 0, peak.isFinite else { throw TrainingError.invalidSetting(name: "learning rate", value: "\(peak)", valid: "a positive number") }
        guard totalSteps >= 1, warmupSteps >= 0, warmupSteps <= totalSteps else {
            throw TrainingError.invalidSetting(name: "warm-up/total steps", value: "\(warmupSteps)/\(totalSteps)",
                                               valid: "0 ≤ warm-up ≤ total, total ≥ 1")
        }
    }

    /// The rate of the step taken after `step` earlier steps.
    public func learningRate(step: Int) -> Double {
        if step < warmupSteps { return peak * Double(step) / Double(max(1, warmupSteps)) }
        let remaining = Double(max(1, totalSteps - warmupSteps))
        switch decay {
        case .linear:
            return peak * max(0, Double(totalSteps - step) / remaining)
        case .cosine:
            let progress = Double(step - warmupSteps) / remaining
            return peak * max(0, 0.5 * (1 + cos(Double.pi * progress)))
        case .constant:
            return peak
        }
    }
}
