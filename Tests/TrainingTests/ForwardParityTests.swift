import Kernels
import Testing
import TensorCore
import Training
import Transformer

/// The training forward pass (Float) against the product's (`Transformer.LanguageModel`,
/// `DecoderLayer`) on the same tiny checkpoint; adapters that start at B = 0; merged adapters.
///
/// Tolerance 1e-5 of the largest logit: both passes are Float, and they differ only in summation
/// order (SIMD lanes and tiles in the product, plain loops and full-row BLAS here), worth a few
/// 1e-7 relative on values of this size.
@Suite struct ForwardParityTests {
    static let tolerance = 1e-5

    static func relative(_ a: Matrix, _ b: Matrix) -> Double {
        relativeError(a.storage.map(Double.init), b.storage.map(Double.init))
    }

    /// The product's logits `[T, V]` and per-position NLLs for `tokens` on `model`.
    static func production(_ model: LanguageModel, tokens: [Int32], targets: [Int32]) throws -> (logits: Matrix, nll: [Double]) {
        let c = model.configuration, t = tokens.count
        var hidden = Matrix(rows: t, columns: c.hiddenSize)
        try hidden.storage.withUnsafeMutableBufferPointer { try model.embed(tokens, into: $0.baseAddress!) }
        let workspace = BlockWorkspace(configuration: c, capacity: 32, threads: ComputeThreads(1), tileRows: 4)
        for i in 0..<c.layerCount { try model.layer(i).forward(&hidden, workspace: workspace) }
        return hidden.storage.withUnsafeBufferPointer { hb in
            (model.logits(hb.baseAddress!, rows: Array(0..<t)),
             model.negativeLogLikelihoods(hb.baseAddress!, tokens: t, targets: targets, threads: ComputeThreads(1), rows: 4))
        }
    }

    @Test(arguments: TinySetup.loadable)
    func matchesTheProductionForwardPass(_ setup: TinySetup) throws {
        let weights = try TinyWeights(setup)
        let checkpoint = weights.checkpoint
        #expect(checkpoint.rotaryConvention == setup.convention)
        let (tokens, targets) = tinyTokens(9)
        let expected = try Self.production(try LanguageModel(checkpoint: checkpoint, maxSequenceLength: 32), tokens: tokens,
                                           targets: targets)
        let model = try TrainingModel<Float>(checkpoint: checkpoint, maxSequenceLength: 32)
        let logits = model.logits(tokens: tokens, parameters: nil).matrix
        #expect(Self.relative(logits, expected.logits) < Self.tolerance)
        let scored = targets.indices.filter { targets[$0] >= 0 }
        let expectedLoss = scored.map { expected.nll[$0] }.reduce(0, +) / Double(scored.count)
        let loss = model.loss(tokens: tokens, targets: targets, parameters: nil)
        #expect(abs(loss - expectedLoss) < Self.tolerance * expectedLoss, "loss \(loss) vs the product's \(expectedLoss)")

        // peft's starting point (B = 0) adds exact zeros: the logits are the base model's to the bit.
        for masked in [true, false] {
            let lora = LoRAConfiguration(rank: 4, targets: TensorRole.linears, masked: masked, trainsNormGains: true)
            let start = TrainableParameters(initialFor: model, lora: lora, seed: 1)
            #expect(start.values.contains { $0 != 0 }, "A is not zero")
            let adapted = model.logits(tokens: tokens, parameters: start).matrix
            #expect(zip(adapted.storage, logits.storage).allSatisfy { $0.bitPattern == $1.bitPattern }, "masked \(masked)")
        }
    }

    /// A masked merge keeps every zero of every matrix (the count per matrix is unchanged) and
    /// gives the adapter's logits without the adapter; an unmasked merge fills the zeros in.
    @Test(arguments: [true, false])
    func mergeKeepsZerosAndLogits(_ masked: Bool) throws {
        let setup = TinySetup(convention: .halfSplit, biases: true, tied: false, keyValueHeads: 2)
        let weights = try TinyWeights(setup)
        let model: TrainingModel<Float> = try weights.model(setup)
        let parameters = ModelGradientTests.parameters(model, masked: masked)
        let (tokens, _) = tinyTokens(9)
        let adapted = model.logits(tokens: tokens, parameters: parameters).matrix
        let merged = weights.blocks.enumerated().map { parameters.merged($1, block: $0) }
        for (block, (before, after)) in zip(weights.blocks, merged).enumerated() {
            for role in TensorRole.linears {
                let zerosBefore = before[linear: role].storage.filter { $0 == 0 }.count
                let zerosAfter = after[linear: role].storage.filter { $0 == 0 }.count
                #expect(zerosBefore > 0)
                if masked {
                    #expect(zerosAfter == zerosBefore, "block \(block) \(role)")
                } else {
                    #expect(zerosAfter < zerosBefore, "block \(block) \(role): an unmasked update is dense")
                }
            }
        }
        let mergedModel: TrainingModel<Float> = try TrainingModel(
            configuration: setup.configuration, convention: setup.convention, embedding: weights.embedding, head: weights.head,
            finalNorm: parameters.mergedFinalNorm(weights.finalNorm), blocks: merged, maxSequenceLength: 32)
        let mergedLogits = mergedModel.logits(tokens: tokens, parameters: nil).matrix
        #expect(Self.relative(mergedLogits, adapted) < Self.tolerance)
        #expect(Self.relative(mergedLogits, model.logits(tokens: tokens, parameters: nil).matrix) > 1e-3, "the adapter changes the logits")
    }
}
