/// Settings of one training pass (a forward and backward over one sequence).
public struct TrainingPassOptions: Sendable {
    /// The adapters' dropout for this pass; nil for none (evaluation, or dropout 0).
    public var dropout: LoRADropout?
    /// Per-block recomputation (checkpointing): the forward keeps only each block's input (the
    /// residual stream) and the backward runs each block's forward again before its backward, so
    /// memory is one block's activations plus `L + 1` residual matrices `[T, D]`. Off: every
    /// block's activations are kept from the first forward (same gradients, more memory).
    public var recomputesActivations: Bool
    /// Rows of logits per chunk of the cross-entropy (`[rows, V]` scratch).
    public var headChunkRows: Int
    /// Whether to return `dL/dx` at the input of every block (for checks).
    public var recordsBlockInputGradients: Bool

    public init(dropout: LoRADropout? = nil, recomputesActivations: Bool = true, headChunkRows: Int = 64,
                recordsBlockInputGradients: Bool = false) {
        self.dropout = dropout
        self.recomputesActivations = recomputesActivations
        self.headChunkRows = headChunkRows
        self.recordsBlockInputGradients = recordsBlockInputGradients
    }
}

/// The outcome of one training pass.
public struct TrainingPassResult<Scalar: TrainingScalar>: Sendable {
    /// `Σ_t (logsumexp − z[y_t])` over the scored positions, in Double.
    public var lossSum: Double
    /// Positions with a target `≥ 0`.
    public var scored: Int
    /// The loss whose gradient was taken: `lossSum / normalizer`.
    public var loss: Double
    /// `dL/dx` at the input of block `i` (`[T, D]`), when asked for; empty otherwise.
    public var blockInputGradients: [TrainingMatrix<Scalar>]
}

extension TrainingModel {
    /// Adds to `gradients` the gradient of `L = (1/N) Σ_t NLL_t` for one sequence, where
    /// position `t` reads `tokens[0...t]` and predicts `targets[t]` (negative: not scored), and
    /// `N = normalizer`, by default the scored count. With a common `normalizer` (the step's
    /// scored tokens) over several calls, the sums are the gradient of the step's mean loss
    /// (gradient accumulation).
    ///
    /// Forward: embed, blocks `0..<L` keeping the residual stream, chunked cross-entropy
    /// (``CrossEntropyHead``); backward: blocks `L−1` down to 0, recomputing each block's
    /// activations first when ``TrainingPassOptions/recomputesActivations``. Activations are
    /// allocated per call (about `10·T·max(D, F) + H·T²` values per live block), not from a
    /// reused workspace: at SmolLM2-135M's shapes and T = 512 a block's forward measured about
    /// the production forward's time, so the allocations are not the cost that matters.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func accumulateGradients(tokens: [Int32], targets: [Int32], parameters: TrainableParameters<Scalar>,
                                    into gradients: inout TrainableParameters<Scalar>, normalizer: Int? = nil,
                                    options: TrainingPassOptions = TrainingPassOptions()) -> TrainingPassResult<Scalar> {
        precondition(tokens.count == targets.count && !tokens.isEmpty, "training pass: \(tokens.count) tokens, \(targets.count) targets")
        precondition(gradients.entries == parameters.entries, "training pass: gradients and parameters differ in layout")
        var n = max(1, targets.filter { $0 >= 0 }.count)
        if let normalizer { n = normalizer }
        var residual = [embed(tokens)]                      // block inputs, then the last output
        var stored = [BlockActivations<Scalar>]()
        for i in 0..<configuration.layerCount {
            let (output, activations) = blockForward(i, input: residual[i], parameters: parameters, dropout: options.dropout)
            if !options.recomputesActivations { stored.append(activations) }
            residual.append(output)
        }
        let finalGain = parameters.gain(.finalNormGain) ?? finalNorm
        let head = CrossEntropyHead.lossAndGradient(hidden: residual[configuration.layerCount], targets: targets,
                                                    normGain: finalGain, epsilon: epsilon, head: self.head,
                                                    normalizer: n, chunkRows: options.headChunkRows)
        if gradients.contains(.finalNormGain) { gradients.add(head.gain, to: .finalNormGain) }
        var dHidden = head.hidden
        var inputGradients = [TrainingMatrix<Scalar>]()
        for i in (0..<configuration.layerCount).reversed() {
            let activations = options.recomputesActivations
                ? blockForward(i, input: residual[i], parameters: parameters, dropout: options.dropout).activations
                : stored[i]
            residual[i + 1] = TrainingMatrix(rows: 0, columns: 0)
            dHidden = blockBackward(i, outputGradient: dHidden, activations: activations, parameters: parameters,
                                    gradients: &gradients)
            if options.recordsBlockInputGradients { inputGradients.append(dHidden) }
        }
        return TrainingPassResult(lossSum: head.lossSum, scored: head.scored, loss: head.lossSum / Double(n),
                                  blockInputGradients: inputGradients.reversed())
    }

    /// The loss of one sequence and its gradient (a fresh accumulator); see
    /// ``accumulateGradients(tokens:targets:parameters:into:normalizer:options:)``.
    public func lossAndGradients(tokens: [Int32], targets: [Int32], parameters: TrainableParameters<Scalar>,
                                 options: TrainingPassOptions = TrainingPassOptions())
        -> (loss: Double, gradients: TrainableParameters<Scalar>) {
        var gradients = parameters.zeros()
        let result = accumulateGradients(tokens: tokens, targets: targets, parameters: parameters, into: &gradients,
                                         options: options)
        return (result.loss, gradients)
    }

    /// The mean NLL over the scored positions, starting from the input `hidden` (`[T, D]`) of
    /// block `firstBlock` (0 with the embeddings: ``loss(tokens:targets:parameters:)``), with the
    /// adapters' `dropout` (nil for evaluation).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func loss(fromBlock firstBlock: Int, hidden: TrainingMatrix<Scalar>, targets: [Int32],
                     parameters: TrainableParameters<Scalar>?, dropout: LoRADropout? = nil, headChunkRows: Int = 64) -> Double {
        var x = hidden
        for i in firstBlock..<configuration.layerCount {
            x = blockForward(i, input: x, parameters: parameters, dropout: dropout).output
        }
        let n = max(1, targets.filter { $0 >= 0 }.count)
        let finalGain = parameters?.gain(.finalNormGain) ?? finalNorm
        return CrossEntropyHead.lossAndGradient(hidden: x, targets: targets, normGain: finalGain, epsilon: epsilon,
                                                head: head, normalizer: n, chunkRows: headChunkRows,
                                                computesGradient: false).lossSum / Double(n)
    }

    /// The mean NLL of `targets` given `tokens`; `parameters` nil for the base model, `dropout`
    /// nil for evaluation.
    public func loss(tokens: [Int32], targets: [Int32], parameters: TrainableParameters<Scalar>?,
                     dropout: LoRADropout? = nil) -> Double {
        loss(fromBlock: 0, hidden: embed(tokens), targets: targets, parameters: parameters, dropout: dropout)
    }

    /// Logits `[T, V]` of every position, without dropout (evaluation and tests: materialises `[T, V]`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func logits(tokens: [Int32], parameters: TrainableParameters<Scalar>?) -> TrainingMatrix<Scalar> {
        var x = embed(tokens)
        for i in 0..<configuration.layerCount {
            x = blockForward(i, input: x, parameters: parameters, dropout: nil).output
        }
        return CrossEntropyHead.logits(hidden: x, normGain: parameters?.gain(.finalNormGain) ?? finalNorm,
                                       epsilon: epsilon, head: head)
    }
}
