import TensorCore
import Transformer

/// The dropout of a LoRA input path (peft: `lora_B(lora_A(dropout(x)))`, `nn.Dropout(p)`): each
/// value is kept with probability `1 − p` and scaled by `1/(1 − p)`, otherwise zeroed; the base
/// path `x·Wᵀ` sees the undropped `x`. Training passes only; evaluation has no dropout.
///
/// The mask of one call is a function of `(seed, block, role)` alone, so the recomputation of a
/// block in the backward pass draws the very mask its first forward drew, and each adapter has
/// its own mask as peft's separate dropout modules do.
public struct LoRADropout: Sendable, Equatable {
    /// Dropout probability `p`, in `[0, 1)`.
    public let probability: Double
    /// The seed of this pass's masks (one per optimizer step and sequence, chosen by the caller).
    public let seed: UInt64

    public init(probability: Double, seed: UInt64) {
        precondition(probability >= 0 && probability < 1, "dropout probability \(probability) outside [0, 1)")
        self.probability = probability
        self.seed = seed
    }

    /// Per-value factors `[rows, columns]`: 0 (dropped) or `1/(1 − p)` (kept), for the adapter of
    /// `role` in block `block`.
    public func scales<S: TrainingScalar>(rows: Int, columns: Int, block: Int, role: TensorRole) -> TrainingMatrix<S> {
        let roleIndex = TensorRole.linears.firstIndex(of: role) ?? TensorRole.linears.count
        var generator = SeededGenerator(seed: seed &+ UInt64(block &* 8 &+ roleIndex &+ 1) &* 0xD1B5_4A32_D192_ED03)
        let kept = S(1 / (1 - probability))
        var result = TrainingMatrix<S>(rows: rows, columns: columns)
        for i in 0..<result.count {
            let uniform = Double(generator.next() >> 11) / Double(1 << 53)
            result.storage[i] = uniform >= probability ? kept : 0
        }
        return result
    }
}
