/// A linear layer with a frozen weight `W` `[out, in]`, an optional frozen bias `b` `[out]` and an
/// optional LoRA adapter, with its backward pass. Letters: T rows of `x`, `s = α/r`, `x̃` the
/// adapter's input after dropout (`x̃ = x ⊙ keep`, `keep` the dropout factors, or `x` without dropout).
///
/// Unmasked adapter:
///
///     u  = x̃·Aᵀ                     [T, r]
///     y  = x·Wᵀ + b + s·u·Bᵀ         [T, out]
///     dB = s·dyᵀ·u,   dA = s·(dy·B)ᵀ·x̃,   dx = dy·W + (s·(dy·B)·A) ⊙ keep
///
/// Masked adapter (`M = [W ≠ 0]`, so the update never touches a pruned weight):
///
///     ΔW = s·(B·A) ⊙ M               [out, in], formed once per forward
///     y  = x·Wᵀ + b + x̃·ΔWᵀ          (one product with W + ΔW when there is no dropout)
///     G  = s·(dyᵀ·x̃) ⊙ M,   dB = G·Aᵀ,   dA = Bᵀ·G,   dx = dy·W + (dy·ΔW) ⊙ keep
///
/// Cost of the masked form per call, against the frozen layer's `2·T·out·in` multiply-adds each
/// way: forming ΔW `2·out·in·r`; `dyᵀ·x̃` another `2·T·out·in`; with dropout, `x̃·ΔWᵀ` and `dy·ΔW`
/// two more — so a masked target costs about 2× (no dropout) to 3× (dropout) its frozen layer in
/// the backward pass, where the unmasked adapter adds only `O(T·r·(in + out))`. The mask is read
/// from `W` itself, so it costs no memory.
public struct LoRALinear<Scalar: TrainingScalar>: Sendable {
    /// The adapter's values and settings.
    public struct Adapter: Sendable {
        public var a: TrainingMatrix<Scalar>   // [r, in]
        public var b: TrainingMatrix<Scalar>   // [out, r]
        /// `α / r`.
        public var scale: Scalar
        public var masked: Bool

        public init(a: TrainingMatrix<Scalar>, b: TrainingMatrix<Scalar>, scale: Scalar, masked: Bool) {
            precondition(a.rows == b.columns, "LoRA: A has rank \(a.rows), B \(b.columns)")
            self.a = a
            self.b = b
            self.scale = scale
            self.masked = masked
        }
    }

    /// What a forward call keeps for its backward pass (besides its input).
    public struct Cache: Sendable {
        /// `x̃` when there is dropout (otherwise the input itself). `[T, in]`
        var droppedInput: TrainingMatrix<Scalar>?
        /// The dropout factors `keep`. `[T, in]`
        var dropout: TrainingMatrix<Scalar>?
        /// Unmasked: `u = x̃·Aᵀ`. `[T, r]`
        var projected: TrainingMatrix<Scalar>?
        /// Masked with dropout: `ΔW = s·(B·A) ⊙ M`. `[out, in]`
        var update: TrainingMatrix<Scalar>?
        /// Masked without dropout: `W + ΔW`, the one matrix both passes multiply by. `[out, in]`
        var effective: TrainingMatrix<Scalar>?
    }

    public let weight: TrainingMatrix<Scalar>   // [out, in], frozen
    public let bias: [Scalar]?                  // [out], frozen
    public let adapter: Adapter?

    public init(weight: TrainingMatrix<Scalar>, bias: [Scalar]?, adapter: Adapter?) {
        precondition(bias.map { $0.count == weight.rows } ?? true, "linear: bias length differs from the output size")
        if let adapter {
            precondition(adapter.a.columns == weight.columns && adapter.b.rows == weight.rows,
                         "LoRA: A [\(adapter.a.rows), \(adapter.a.columns)], B [\(adapter.b.rows), \(adapter.b.columns)] for W [\(weight.rows), \(weight.columns)]")
        }
        self.weight = weight
        self.bias = bias
        self.adapter = adapter
    }

    /// `ΔW = s·(B·A) ⊙ [W ≠ 0]`, or with `addingWeight` `W + ΔW`. `[out, in]`
    static func maskedUpdate(_ adapter: Adapter, weight: TrainingMatrix<Scalar>, addingWeight: Bool = false) -> TrainingMatrix<Scalar> {
        var update = MatrixProduct.product(adapter.b, adapter.a, alpha: adapter.scale)
        update.keepNonZeros(of: weight, adding: addingWeight)
        return update
    }

    /// `y` `[T, out]` for `x` `[T, in]`; `dropout` (`[T, in]` factors) applies to the adapter's input only.
    public func forward(_ x: TrainingMatrix<Scalar>, dropout: TrainingMatrix<Scalar>? = nil) -> (output: TrainingMatrix<Scalar>, cache: Cache) {
        precondition(x.columns == weight.columns, "linear: input has \(x.columns) features, weight expects \(weight.columns)")
        var y = TrainingMatrix<Scalar>(rows: x.rows, columns: weight.rows)
        if let bias {
            for t in 0..<x.rows { for j in 0..<weight.rows { y.storage[t * weight.rows + j] = bias[j] } }
        }
        var cache = Cache()
        guard let adapter else {
            MatrixProduct.multiply(x, weight, transposeB: true, beta: 1, into: &y)
            return (y, cache)
        }
        let dropped = dropout.map { keep in
            var dropped = x
            for i in 0..<dropped.count { dropped.storage[i] *= keep.storage[i] }
            return dropped
        }
        cache.droppedInput = dropped
        cache.dropout = dropout
        if adapter.masked {
            if let dropped {
                let update = Self.maskedUpdate(adapter, weight: weight)
                MatrixProduct.multiply(x, weight, transposeB: true, beta: 1, into: &y)
                MatrixProduct.multiply(dropped, update, transposeB: true, beta: 1, into: &y)
                cache.update = update
            } else {
                let effective = Self.maskedUpdate(adapter, weight: weight, addingWeight: true)
                MatrixProduct.multiply(x, effective, transposeB: true, beta: 1, into: &y)
                cache.effective = effective
            }
        } else {
            MatrixProduct.multiply(x, weight, transposeB: true, beta: 1, into: &y)
            let projected = MatrixProduct.product(dropped ?? x, adapter.a, transposeB: true)
            MatrixProduct.multiply(projected, adapter.b, transposeB: true, alpha: adapter.scale, beta: 1, into: &y)
            cache.projected = projected
        }
        return (y, cache)
    }

    /// Adds `dx` for `dy` `[T, out]` to `inputGradient` `[T, in]`; returns `(dA, dB)` when there is an adapter.
    public func backward(_ dy: TrainingMatrix<Scalar>, input x: TrainingMatrix<Scalar>, cache: Cache,
                         inputGradient dx: inout TrainingMatrix<Scalar>) -> (a: TrainingMatrix<Scalar>, b: TrainingMatrix<Scalar>)? {
        precondition(dy.rows == x.rows && dy.columns == weight.rows && dx.rows == x.rows && dx.columns == weight.columns,
                     "linear backward: shapes differ from the forward's")
        guard let adapter else {
            MatrixProduct.multiply(dy, weight, beta: 1, into: &dx)
            return nil
        }
        let dropped = cache.droppedInput ?? x
        // The adapter's input gradient dx̃ `[T, in]`; through dropout it becomes dx̃ ⊙ keep.
        var droppedGradient: TrainingMatrix<Scalar>
        let gradients: (a: TrainingMatrix<Scalar>, b: TrainingMatrix<Scalar>)
        if adapter.masked {
            var g = MatrixProduct.product(dy, transposeA: true, dropped, alpha: adapter.scale)   // [out, in]
            g.keepNonZeros(of: weight, adding: false)
            gradients = (MatrixProduct.product(adapter.b, transposeA: true, g), MatrixProduct.product(g, adapter.a, transposeB: true))
            if let effective = cache.effective {
                MatrixProduct.multiply(dy, effective, beta: 1, into: &dx)
                return gradients
            }
            guard let update = cache.update else { preconditionFailure("LoRA backward: the forward kept no update") }
            droppedGradient = MatrixProduct.product(dy, update)
        } else {
            guard let projected = cache.projected else { preconditionFailure("LoRA backward: the forward kept no x̃·Aᵀ") }
            let dyB = MatrixProduct.product(dy, adapter.b)                                       // [T, r]
            gradients = (MatrixProduct.product(dyB, transposeA: true, dropped, alpha: adapter.scale),
                         MatrixProduct.product(dy, transposeA: true, projected, alpha: adapter.scale))
            droppedGradient = MatrixProduct.product(dyB, adapter.a, alpha: adapter.scale)
        }
        MatrixProduct.multiply(dy, weight, beta: 1, into: &dx)
        if let keep = cache.dropout {
            for i in 0..<droppedGradient.count { droppedGradient.storage[i] *= keep.storage[i] }
        }
        dx.add(droppedGradient)
        return gradients
    }
}
