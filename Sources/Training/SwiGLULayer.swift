/// The gated MLP activation and its backward pass, element by element:
///
///     m = silu(g) ⊙ u,   silu(g) = g·σ(g)
///     dg = dm ⊙ u ⊙ σ(g)·(1 + g·(1 − σ(g)))
///     du = dm ⊙ silu(g)
///
/// Same forward as `Kernels.ActivationKernel.swiGLU`.
public enum SwiGLULayer {
    /// `silu(gate) ⊙ up`, `[T, F]`.
    public static func forward<S: TrainingScalar>(gate: TrainingMatrix<S>, up: TrainingMatrix<S>) -> TrainingMatrix<S> {
        precondition(gate.rows == up.rows && gate.columns == up.columns, "SwiGLU: gate and up differ in shape")
        var m = TrainingMatrix<S>(rows: gate.rows, columns: gate.columns)
        for i in 0..<m.count {
            let g = gate.storage[i]
            m.storage[i] = g / (1 + S.exponential(-g)) * up.storage[i]
        }
        return m
    }

    /// `dgate` and `dup` `[T, F]` for `dm` `[T, F]`.
    public static func backward<S: TrainingScalar>(_ dm: TrainingMatrix<S>, gate: TrainingMatrix<S>, up: TrainingMatrix<S>)
        -> (gate: TrainingMatrix<S>, up: TrainingMatrix<S>) {
        precondition(dm.rows == gate.rows && dm.columns == gate.columns && gate.count == up.count, "SwiGLU backward: shapes differ")
        var dg = TrainingMatrix<S>(rows: gate.rows, columns: gate.columns), du = dg
        for i in 0..<dm.count {
            let g = gate.storage[i], sigma = 1 / (1 + S.exponential(-g))
            dg.storage[i] = dm.storage[i] * up.storage[i] * sigma * (1 + g * (1 - sigma))
            du.storage[i] = dm.storage[i] * g * sigma
        }
        return (dg, du)
    }
}
