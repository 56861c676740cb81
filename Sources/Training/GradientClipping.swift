/// Clipping by global norm, as `torch.nn.utils.clip_grad_norm_` (L2, one group): with
/// `‖g‖ = √(Σ g²)` over every gradient value, scale all by `c = maxNorm / (‖g‖ + 10⁻⁶)` when
/// `c < 1`, otherwise leave them. The norm is summed in Double.
public enum GradientClipping {
    /// Clips `gradients` in place; returns the norm before clipping.
    @discardableResult
    public static func clip<S: TrainingScalar>(_ gradients: inout [S], maxNorm: Double) -> Double {
        precondition(maxNorm > 0, "gradient clipping needs a positive maximum norm")
        var sum = 0.0
        for g in gradients { sum += Double(g) * Double(g) }
        let norm = sum.squareRoot()
        let coefficient = maxNorm / (norm + 1e-6)
        if coefficient < 1 {
            let c = S(coefficient)
            for i in 0..<gradients.count { gradients[i] *= c }
        }
        return norm
    }
}
