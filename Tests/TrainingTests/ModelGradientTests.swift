import Kernels
import Testing
import TensorCore
import Training
import Transformer

/// The whole loss of the tiny decoder (2 blocks, every RoPE convention, bias, head and
/// grouping choice) against central differences in Double: the gradient of every LoRA value on
/// all seven linears (with non-zero B, masked and unmasked, dropout 0.2 with a fixed mask), of the
/// trainable norm gains, and of the input of each block.
///
/// Tolerance as in ``OperationGradientTests``: 1e-6 of the largest entry of each tensor's gradient
/// (h = 1e-5; truncation and rounding stay below 1e-8 of that scale).
@Suite struct ModelGradientTests {
    static let tolerance = 1e-6
    static let dropout = LoRADropout(probability: 0.2, seed: 11)

    static func lora(masked: Bool) -> LoRAConfiguration {
        LoRAConfiguration(rank: 2, alpha: 6, dropout: 0.2, targets: TensorRole.linears, masked: masked, trainsNormGains: true)
    }

    /// peft's starting values with B replaced by seeded values in ±0.3 (with B = 0 every dA is 0)
    /// and the gains moved off the model's.
    static func parameters<S: TrainingScalar>(_ model: TrainingModel<S>, masked: Bool) -> TrainableParameters<S> {
        var p = TrainableParameters(initialFor: model, lora: lora(masked: masked), seed: 21)
        var g = SeededGenerator(seed: 22)
        for entry in p.entries {
            switch entry.kind {
            case .loraB: for i in entry.range { p.values[i] = S(g.nextSignedUnit() * 0.3) }
            case .loraA: continue
            default: for i in entry.range { p.values[i] += S(g.nextSignedUnit() * 0.1) }
            }
        }
        return p
    }

    @Test(arguments: TinySetup.all, [true, false])
    func lossGradientMatchesFiniteDifferences(_ setup: TinySetup, _ masked: Bool) throws {
        let model: TrainingModel<Double> = try TinyWeights(setup).model(setup)
        let p = Self.parameters(model, masked: masked)
        let (tokens, targets) = tinyTokens(8)
        let options = TrainingPassOptions(dropout: Self.dropout, headChunkRows: 3, recordsBlockInputGradients: true)
        var gradients = p.zeros()
        let result = model.accumulateGradients(tokens: tokens, targets: targets, parameters: p, into: &gradients, options: options)

        func loss(_ values: [Double]) -> Double {
            var q = p
            q.values = values
            return model.loss(tokens: tokens, targets: targets, parameters: q, dropout: Self.dropout)
        }
        #expect(abs(result.loss - loss(p.values)) < 1e-14 * result.loss)
        let numeric = centralDifferences(count: p.values.count) { i, h in
            var values = p.values
            values[i] += h
            return loss(values)
        }
        for entry in p.entries {
            let error = relativeError(Array(gradients.values[entry.range]), Array(numeric[entry.range]))
            #expect(error < Self.tolerance, "\(entry.kind): relative error \(error)")
        }

        // dL/dx at each block's input.
        var input = model.embed(tokens)
        for block in 0..<model.configuration.layerCount {
            let x = input
            let fd = centralDifferences(count: x.count) { i, h in
                var perturbed = x
                perturbed.storage[i] += h
                return model.loss(fromBlock: block, hidden: perturbed, targets: targets, parameters: p, dropout: Self.dropout)
            }
            let error = relativeError(result.blockInputGradients[block].storage, fd)
            #expect(error < Self.tolerance, "block \(block) input: relative error \(error)")
            input = model.blockForward(block, input: x, parameters: p, dropout: Self.dropout).output
        }
    }

    /// Recomputing each block's activations in the backward pass runs the same operations on the
    /// same values as keeping them, so the gradients agree to the last bit (bound: 1e-12 relative).
    @Test(arguments: [true, false])
    func recomputationGivesTheStoredGradients(_ masked: Bool) throws {
        let setup = TinySetup(convention: .halfSplit, biases: true, tied: false, keyValueHeads: 2)
        let model: TrainingModel<Double> = try TinyWeights(setup).model(setup)
        let p = Self.parameters(model, masked: masked)
        let (tokens, targets) = tinyTokens(9)
        var results = [(TrainingPassResult<Double>, TrainableParameters<Double>)]()
        for recompute in [true, false] {
            var gradients = p.zeros()
            let options = TrainingPassOptions(dropout: Self.dropout, recomputesActivations: recompute, recordsBlockInputGradients: true)
            let result = model.accumulateGradients(tokens: tokens, targets: targets, parameters: p, into: &gradients, options: options)
            results.append((result, gradients))
        }
        let ((recomputed, g1), (stored, g2)) = (results[0], results[1])
        #expect(relativeError(g1.values, g2.values) <= 1e-12)
        #expect(g1.values.contains { $0 != 0 })
        for block in 0..<2 {
            #expect(relativeError(recomputed.blockInputGradients[block].storage, stored.blockInputGradients[block].storage) <= 1e-12)
        }
        #expect(abs(recomputed.loss - stored.loss) <= 1e-12 * stored.loss)
    }

    /// Two sequences accumulated with their common token count as normalizer give the gradient of
    /// the mean loss over both: the sum of each sequence's own-mean gradient weighted by its share.
    @Test func accumulationOverSequencesIsTheMeanLossGradient() throws {
        let setup = TinySetup(convention: .interleaved, biases: false, tied: true, keyValueHeads: 2)
        let model: TrainingModel<Double> = try TinyWeights(setup).model(setup)
        let p = Self.parameters(model, masked: true)
        let first = tinyTokens(8, seed: 3), second = tinyTokens(5, seed: 4)
        var accumulated = p.zeros()
        for sequence in [first, second] {
            _ = model.accumulateGradients(tokens: sequence.tokens, targets: sequence.targets, parameters: p, into: &accumulated,
                                          normalizer: 7 + 4)
        }
        let a = model.lossAndGradients(tokens: first.tokens, targets: first.targets, parameters: p).gradients
        let b = model.lossAndGradients(tokens: second.tokens, targets: second.targets, parameters: p).gradients
        let expected = zip(a.values, b.values).map { (7 * $0 + 4 * $1) / 11 }
        #expect(relativeError(accumulated.values, expected) < 1e-12)
    }
}

/// The parameter table and peft's starting values.
@Suite struct TrainableParameterTests {
    @Test func layoutAndInitialValues() throws {
        let setup = TinySetup(convention: .halfSplit, biases: false, tied: true, keyValueHeads: 2)
        let model: TrainingModel<Float> = try TinyWeights(setup).model(setup)
        let lora = LoRAConfiguration(rank: 3, targets: [.value, .query, .down])
        let p = TrainableParameters(initialFor: model, lora: lora, seed: 5)
        #expect(lora.targets == [.query, .value, .down], "targets in TensorRole.linears order")
        // Per block: A [r, in] and B [out, r] of q (16 → 16), v (16 → 8), down (24 → 16), in PEFT's shapes.
        let shapes = p.entries.prefix(6).map { [$0.rows, $0.columns] }
        #expect(shapes == [[3, 16], [16, 3], [3, 16], [8, 3], [3, 24], [16, 3]])
        #expect(p.values.count == 2 * (48 + 48 + 48 + 24 + 72 + 48))
        #expect(p.entries.allSatisfy(\.decays) && p.decayedRanges.count == p.entries.count)
        for entry in p.entries {
            let values = p.values[entry.range]
            switch entry.kind {
            case .loraB: #expect(values.allSatisfy { $0 == 0 })
            default:
                // Kaiming-uniform with a = √5: bound 1/√in; uniform, so the mean square is bound²/3.
                let bound = 1 / Float(entry.columns).squareRoot()
                #expect(values.allSatisfy { abs($0) <= bound })
                let meanSquare = values.map { Double($0 * $0) }.reduce(0, +) / Double(values.count)
                #expect(abs(meanSquare / Double(bound * bound) - 1.0 / 3) < 0.1, "\(entry.kind)")
            }
        }
        #expect(TrainableParameters(initialFor: model, lora: lora, seed: 5) == p)
        #expect(TrainableParameters(initialFor: model, lora: lora, seed: 6) != p)
        // Gains train without weight decay, starting from the model's.
        let withGains = TrainableParameters(initialFor: model, lora: LoRAConfiguration(trainsNormGains: true), seed: 5)
        #expect(withGains.matrix(.finalNormGain).storage == model.finalNorm)
        #expect(!withGains.entry(.attentionNormGain(block: 1)).decays)
    }

    @Test func dropoutKeepsOneMinusPAndIsReproducible() {
        let dropout = LoRADropout(probability: 0.25, seed: 9)
        let mask: TrainingMatrix<Double> = dropout.scales(rows: 64, columns: 64, block: 1, role: .value)
        let kept = mask.storage.filter { $0 != 0 }
        #expect(abs(Double(kept.count) / 4096 - 0.75) < 0.03)
        #expect(kept.allSatisfy { abs($0 - 1 / 0.75) < 1e-15 })
        #expect(dropout.scales(rows: 64, columns: 64, block: 1, role: .value) == mask)
        #expect(dropout.scales(rows: 64, columns: 64, block: 1, role: .query) != mask, "each adapter has its own mask")
        #expect(dropout.scales(rows: 64, columns: 64, block: 0, role: .value) != mask)
    }
}
