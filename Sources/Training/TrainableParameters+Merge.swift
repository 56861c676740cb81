import TensorCore
import Transformer

extension TrainableParameters {
    /// Block `block`'s weights with the adapters merged in (peft's `merge_and_unload`):
    ///
    ///     W' = W + (α/r)·(B·A) ⊙ M   (masked, M = [W ≠ 0]: every zero of W stays exactly 0)
    ///     W' = W + (α/r)·(B·A)       (unmasked: the update is dense, so a pruned W loses its zeros)
    ///
    /// and the norm gains replaced by the trained ones when they train. The sum is formed in the
    /// training precision and rounded to Float once. (A kept weight whose sum rounds to exactly 0
    /// would become a zero; the merge adds zeros only that way, and never removes one.)
    public func merged(_ base: BlockWeights, block: Int) -> BlockWeights {
        var merged = base
        for role in lora.targets {
            guard let adapter = adapter(block: block, role: role) else { continue }
            let weight = TrainingMatrix<Scalar>(base[linear: role])
            var update = adapter.masked ? LoRALinear.maskedUpdate(adapter, weight: weight)
                                        : MatrixProduct.product(adapter.b, adapter.a, alpha: adapter.scale)
            update.add(weight)
            merged[linear: role] = update.matrix
        }
        if let gain = gain(.attentionNormGain(block: block)) { merged.attentionNorm = Scalar.floats(gain) }
        if let gain = gain(.feedForwardNormGain(block: block)) { merged.feedForwardNorm = Scalar.floats(gain) }
        return merged
    }

    /// The final norm gain after merging: the trained one when gains train, else `base`.
    public func mergedFinalNorm(_ base: [Float]) -> [Float] {
        gain(.finalNormGain).map(Scalar.floats) ?? base
    }
}
