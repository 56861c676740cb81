/// Gated-MLP activations of LLaMA-family models.
///
///     silu(x)          = x · σ(x) = x / (1 + e^(−x))
///     swiGLU(gate, up) = silu(gate) · up          (Shazeer 2020, "GLU Variants")
///
/// Exponentials use `VectorMath.exp` (≤ 2 ulp), so each output is within a few ulp of the exact
/// value. Very negative inputs (`x < −88`) give `−0`-ish values through the exact path.
public enum ActivationKernel {
    /// `y[i] = silu(x[i])` for `count` values; `y` may be `x` (in place).
    public static func silu(_ x: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>, count: Int) {
        let width = VectorMath.width
        let body = count - count % width
        var i = 0
        while i < body {
            VectorMath.store(siluVector(VectorMath.load(x + i)), y + i)
            i += width
        }
        if body < count {
            let v = siluVector(VectorMath.load(x + body, count: count - body))
            VectorMath.store(v, y + body, count: count - body)
        }
    }

    /// `y[i] = silu(gate[i]) · up[i]` for `count` values; `y` may be `gate` or `up` (in place).
    public static func swiGLU(gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
                              output y: UnsafeMutablePointer<Float>, count: Int) {
        let width = VectorMath.width
        let body = count - count % width
        var i = 0
        while i < body {
            VectorMath.store(siluVector(VectorMath.load(gate + i)) * VectorMath.load(up + i), y + i)
            i += width
        }
        if body < count {
            let n = count - body
            let v = siluVector(VectorMath.load(gate + body, count: n)) * VectorMath.load(up + body, count: n)
            VectorMath.store(v, y + body, count: n)
        }
    }

    /// `silu` of every value.
    public static func silu(_ x: [Float]) -> [Float] {
        var y = x
        y.withUnsafeMutableBufferPointer { yb in
            guard let yp = yb.baseAddress else { return }
            silu(yp, output: yp, count: yb.count)
        }
        return y
    }

    /// `silu(gate) · up`, elementwise; `gate` and `up` have equal lengths.
    public static func swiGLU(gate: [Float], up: [Float]) -> [Float] {
        precondition(gate.count == up.count, "swiGLU: gate has \(gate.count) values, up \(up.count)")
        var y = gate
        up.withUnsafeBufferPointer { ub in
            y.withUnsafeMutableBufferPointer { yb in
                guard let yp = yb.baseAddress, let upp = ub.baseAddress else { return }
                swiGLU(gate: yp, up: upp, output: yp, count: yb.count)
            }
        }
        return y
    }

    @inline(__always)
    static func siluVector(_ x: VectorMath.Vector) -> VectorMath.Vector {
        x / (1 + VectorMath.exp(-x))
    }
}
