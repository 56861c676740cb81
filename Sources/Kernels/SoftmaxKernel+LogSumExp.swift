import Foundation

extension SoftmaxKernel {
    /// `log Σⱼ e^(x[j])` of one row, computed as `m + log Σⱼ e^(x[j] − m)` with `m = max x`, so
    /// nothing overflows. The row is not modified. The sum is accumulated in Float over 16 lanes
    /// and the lanes are added in Double (relative error about `log₂(n)·2⁻²⁴` for a vocabulary of
    /// `n` logits, an absolute error of that size on a log-likelihood).
    public static func logSumExp(_ row: UnsafePointer<Float>, count: Int) -> Double {
        let (m, sum) = maximumAndShiftedSum(row, count: count)
        guard m > -.infinity else { return -.infinity }
        return Double(m) + Foundation.log(sum)
    }

    /// `m = max x` and `Σⱼ e^(x[j] − m)` of one row (the parts of ``logSumExp(_:count:)``; the sum
    /// is 0 when `m` is `−∞`). The sum is accumulated in Float over 16 lanes, the lanes added in Double.
    public static func maximumAndShiftedSum(_ row: UnsafePointer<Float>, count: Int) -> (maximum: Float, sum: Double) {
        precondition(count > 0, "logSumExp of an empty row")
        typealias V = VectorMath.Vector
        let width = VectorMath.width
        let body = count - count % width
        let m = maximum(row, count: count)
        guard m > -.infinity else { return (m, 0) }
        var sumLanes = V()
        var i = 0
        while i < body {
            sumLanes += VectorMath.exp(VectorMath.load(row + i) - m)
            i += width
        }
        if body < count {
            sumLanes += VectorMath.exp(VectorMath.load(row + body, count: count - body, padding: -.infinity) - m)
        }
        var sum = 0.0
        for lane in 0..<width { sum += Double(sumLanes[lane]) }
        return (m, sum)
    }
}
