import Foundation
import Training

/// The settings that fix a fine-tuning trajectory (with the model and the windows): two runs
/// with equal values, model and windows produce bit-identical parameters, on the same machine
/// and thread count.
public struct FinetuneHyperparameters: Sendable, Codable, Equatable {
    public var lora: LoRAConfiguration
    /// Tokens per window `T` (T − 1 predictions each: the last position has no target).
    public var sequenceLength: Int
    /// Windows per optimizer step `S` (gradient accumulation over them).
    public var sequencesPerStep: Int
    public var totalSteps: Int
    public var learningRate: Double
    public var warmupSteps: Int
    public var decay: LearningRateSchedule.Decay
    /// Clip the global gradient norm to this (``GradientClipping``).
    public var maxGradNorm: Double
    public var adamW: AdamW<Float>.Settings
    public var seed: UInt64

    public init(lora: LoRAConfiguration, sequenceLength: Int, sequencesPerStep: Int, totalSteps: Int, learningRate: Double,
                warmupSteps: Int, decay: LearningRateSchedule.Decay, maxGradNorm: Double, adamW: AdamW<Float>.Settings, seed: UInt64) {
        self.lora = lora
        self.sequenceLength = sequenceLength
        self.sequencesPerStep = sequencesPerStep
        self.totalSteps = totalSteps
        self.learningRate = learningRate
        self.warmupSteps = warmupSteps
        self.decay = decay
        self.maxGradNorm = maxGradNorm
        self.adamW = adamW
        self.seed = seed
    }

    public var schedule: LearningRateSchedule {
        LearningRateSchedule(peak: learningRate, warmupSteps: warmupSteps, totalSteps: totalSteps, decay: decay)
    }
}

/// One optimizer step's record.
public struct FinetuneStepRecord: Sendable, Codable, Equatable {
    /// 1-based step number.
    public var step: Int
    /// Mean NLL over the step's scored positions (with dropout, before the update).
    public var loss: Double
    public var learningRate: Double
    /// Global gradient norm before clipping.
    public var gradientNorm: Double
    /// Wall-clock seconds of the step.
    public var seconds: Double
}

/// A held-out loss: mean NLL over the held-out windows (no dropout) after `step` steps.
public struct FinetuneHeldOutRecord: Sendable, Codable, Equatable {
    public var step: Int
    public var loss: Double
}

/// Everything a run has done, saved with its checkpoint.
public struct FinetuneProgress: Sendable, Codable, Equatable {
    /// Steps taken.
    public var step = 0
    public var steps: [FinetuneStepRecord] = []
    public var heldOut: [FinetuneHeldOutRecord] = []
    /// Seconds spent in steps and held-out losses, over every session of the run.
    public var trainingSeconds = 0.0
    /// The steps at which the run was resumed.
    public var resumedAt: [Int] = []
}

/// The training loop of `dlp finetune` over a ``TrainingModel``: step `s` (0-based) reads
/// sequences `g = s·S ..< (s+1)·S` of an endless stream over the training windows, epoch
/// `g / W` visiting the `W` windows in its own seeded order (``FinetuneCorpus/order(epoch:count:seed:)``),
/// accumulates the gradient of the step's mean loss (normalizer `S·(T − 1)`), clips it, and takes
/// an AdamW step at the schedule's rate. The adapter dropout of sequence `g` is seeded by
/// `(seed, g)`, so the run's only state is the step count, the parameters and the optimizer's
/// moments: resuming from them is bit-identical to not stopping.
public final class FinetuneTrainer {
    public let model: TrainingModel<Float>
    public let training: [[Int32]]
    public let heldOut: [[Int32]]
    public let settings: FinetuneHyperparameters
    public private(set) var parameters: TrainableParameters<Float>
    public private(set) var optimizer: AdamW<Float>
    public private(set) var progress: FinetuneProgress
    /// Keep every block's activations from the forward pass instead of recomputing them block by
    /// block in the backward pass: the same bits (the same operations on the same values), about
    /// a tenth faster, and `L` blocks' activations in memory instead of one. Not part of the
    /// hyperparameters: a run may change it when resumed.
    public var keepsActivations = false
    private var cachedOrder: (epoch: Int, order: [Int])?

    /// A fresh run: adapters initialised as peft does from the seed, moments zero.
    public init(model: TrainingModel<Float>, training: [[Int32]], heldOut: [[Int32]], settings: FinetuneHyperparameters) {
        precondition(!training.isEmpty, "fine-tuning needs at least one training window")
        self.model = model
        self.training = training
        self.heldOut = heldOut
        self.settings = settings
        parameters = TrainableParameters(initialFor: model, lora: settings.lora, seed: settings.seed)
        optimizer = AdamW(parameterCount: parameters.values.count, settings: settings.adamW)
        progress = FinetuneProgress()
    }

    /// A run resumed from `saved`; throws when its values do not fit the layout.
    public init(model: TrainingModel<Float>, training: [[Int32]], heldOut: [[Int32]], settings: FinetuneHyperparameters,
                resuming saved: FinetuneCheckpoint) throws {
        precondition(!training.isEmpty, "fine-tuning needs at least one training window")
        self.model = model
        self.training = training
        self.heldOut = heldOut
        self.settings = settings
        var parameters = TrainableParameters<Float>(configuration: model.configuration, lora: settings.lora)
        guard saved.parameters.count == parameters.values.count else {
            throw TrainingError.stateMismatch(name: "parameters", expected: "\(parameters.values.count) values",
                                              actual: "\(saved.parameters.count)")
        }
        parameters.values = saved.parameters
        self.parameters = parameters
        optimizer = try AdamW(resuming: saved.optimizer, parameterCount: parameters.values.count)
        progress = saved.progress
        guard optimizer.state.step == progress.step else {
            throw TrainingError.stateMismatch(name: "optimizer step", expected: "\(progress.step)", actual: "\(optimizer.state.step)")
        }
        progress.resumedAt.append(progress.step)
    }

    public var isFinished: Bool { progress.step >= settings.totalSteps }

    /// Sequences read so far.
    public var sequencesSeen: Int { progress.step * settings.sequencesPerStep }

    /// Passes over the training windows so far.
    public var epochs: Double { Double(sequencesSeen) / Double(training.count) }

    /// The window of sequence `g`.
    func window(_ g: Int) -> [Int32] {
        let epoch = g / training.count
        if cachedOrder?.epoch != epoch {
            cachedOrder = (epoch, FinetuneCorpus.order(epoch: epoch, count: training.count, seed: settings.seed))
        }
        return training[cachedOrder!.order[g % training.count]]
    }

    /// Next-token targets of a window: `targets[t] = tokens[t + 1]`, the last position unscored.
    static func targets(_ tokens: [Int32]) -> [Int32] { Array(tokens.dropFirst()) + [-1] }

    /// Takes one optimizer step; returns its record (also appended to ``progress``).
    @discardableResult
    public func step() -> FinetuneStepRecord {
        precondition(!isFinished, "the run has taken all its steps")
        let start = Date()
        let s = settings, first = progress.step * s.sequencesPerStep
        let normalizer = s.sequencesPerStep * (s.sequenceLength - 1)
        var gradients = parameters.zeros()
        var lossSum = 0.0
        for g in first..<(first + s.sequencesPerStep) {
            let tokens = window(g)
            let dropout = s.lora.dropout > 0
                ? LoRADropout(probability: s.lora.dropout, seed: s.seed &+ UInt64(g + 1) &* 0xA24B_AED4_963E_E407) : nil
            let result = model.accumulateGradients(tokens: tokens, targets: Self.targets(tokens), parameters: parameters,
                                                   into: &gradients, normalizer: normalizer,
                                                   options: TrainingPassOptions(dropout: dropout, recomputesActivations: !keepsActivations))
            lossSum += result.lossSum
        }
        let norm = GradientClipping.clip(&gradients.values, maxNorm: s.maxGradNorm)
        let rate = s.schedule.learningRate(step: progress.step)
        optimizer.step(parameters: &parameters.values, gradients: gradients.values, learningRate: rate,
                       decayed: parameters.decayedRanges)
        progress.step += 1
        let seconds = Date().timeIntervalSince(start)
        progress.trainingSeconds += seconds
        let record = FinetuneStepRecord(step: progress.step, loss: lossSum / Double(normalizer), learningRate: rate,
                                        gradientNorm: norm, seconds: seconds)
        progress.steps.append(record)
        return record
    }

    /// The mean NLL over the held-out windows with the current adapters (no dropout), recorded
    /// at the current step; nil without held-out windows.
    @discardableResult
    public func recordHeldOutLoss() -> Double? {
        guard !heldOut.isEmpty else { return nil }
        if let last = progress.heldOut.last, last.step == progress.step { return last.loss }
        let start = Date()
        var sum = 0.0
        for window in heldOut {
            sum += model.loss(tokens: window, targets: Self.targets(window), parameters: parameters)
        }
        let loss = sum / Double(heldOut.count)   // windows have equal scored counts
        progress.trainingSeconds += Date().timeIntervalSince(start)
        progress.heldOut.append(FinetuneHeldOutRecord(step: progress.step, loss: loss))
        return loss
    }

    /// The state to save: everything ``init(model:training:heldOut:settings:resuming:)`` needs.
    public var checkpoint: FinetuneCheckpoint {
        FinetuneCheckpoint(parameters: parameters.values, optimizer: optimizer.state, progress: progress)
    }
}
