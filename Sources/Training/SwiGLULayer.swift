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
        gate.storage.withUnsafeBufferPointer { gb in
            up.storage.withUnsafeBufferPointer { ub in
                m.storage.withUnsafeMutableBufferPointer { mb in
                    guard let gp = gb.baseAddress, let up = ub.baseAddress, let mp = mb.baseAddress else { return }
                    let (g, u, out) = (SharedPointer(gp), SharedPointer(up), SharedPointer(mp))
                    TrainingParallel.forEach(mb.count, cost: 8 * mb.count) { range in
                        for i in range { out[i] = g[i] / (1 + S.exponential(-g[i])) * u[i] }
                    }
                }
            }
        }
        return m
    }

    /// `dgate` and `dup` `[T, F]` for `dm` `[T, F]`.
    public static func backward<S: TrainingScalar>(_ dm: TrainingMatrix<S>, gate: TrainingMatrix<S>, up: TrainingMatrix<S>)
        -> (gate: TrainingMatrix<S>, up: TrainingMatrix<S>) {
        precondition(dm.rows == gate.rows && dm.columns == gate.columns && gate.count == up.count, "SwiGLU backward: shapes differ")
        var dg = TrainingMatrix<S>(rows: gate.rows, columns: gate.columns), du = dg
        dm.storage.withUnsafeBufferPointer { mb in
        gate.storage.withUnsafeBufferPointer { gb in
        up.storage.withUnsafeBufferPointer { ub in
        dg.storage.withUnsafeMutableBufferPointer { dgb in
        du.storage.withUnsafeMutableBufferPointer { dub in
            guard let mp = mb.baseAddress, let gp = gb.baseAddress, let upp = ub.baseAddress,
                  let dgp = dgb.baseAddress, let dup = dub.baseAddress else { return }
            let (dm, gate, up) = (SharedPointer(mp), SharedPointer(gp), SharedPointer(upp))
            let (dg, du) = (SharedPointer(dgp), SharedPointer(dup))
            TrainingParallel.forEach(mb.count, cost: 12 * mb.count) { range in
                for i in range {
                    let g = gate[i], sigma = 1 / (1 + S.exponential(-g))
                    dg[i] = dm[i] * up[i] * sigma * (1 + g * (1 - sigma))
                    du[i] = dm[i] * g * sigma
                }
            }
        }}}}}
        return (dg, du)
    }
}
