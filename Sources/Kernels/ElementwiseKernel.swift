import TensorCore

/// Elementwise arithmetic on flat buffers (residual connections).
public enum ElementwiseKernel {
    /// Residual add in place: `y[i] += x[i]` for `count` values.
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        let width = VectorMath.width
        let body = count - count % width
        var i = 0
        while i < body {
            VectorMath.store(VectorMath.load(y + i) + VectorMath.load(x + i), y + i)
            i += width
        }
        for j in body..<count { y[j] += x[j] }
    }

    /// `z[i] = x[i] + y[i]` for `count` values; `z` may be `x` or `y`.
    public static func add(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
                           output z: UnsafeMutablePointer<Float>, count: Int) {
        let width = VectorMath.width
        let body = count - count % width
        var i = 0
        while i < body {
            VectorMath.store(VectorMath.load(x + i) + VectorMath.load(y + i), z + i)
            i += width
        }
        for j in body..<count { z[j] = x[j] + y[j] }
    }

    /// Residual add of matrices of equal shape: `y += x`.
    public static func add(_ x: Matrix, into y: inout Matrix) {
        precondition(x.rows == y.rows && x.columns == y.columns,
                     "add: shapes [\(x.rows), \(x.columns)] and [\(y.rows), \(y.columns)] differ")
        x.storage.withUnsafeBufferPointer { xb in
            y.storage.withUnsafeMutableBufferPointer { yb in
                guard let xp = xb.baseAddress, let yp = yb.baseAddress else { return }
                add(xp, into: yp, count: yb.count)
            }
        }
    }
}
