import Testing
import TensorCore
import Kernels
import Pruning

/// A `[rows, columns]` matrix of uniform values in `[-scale, scale)`.
func randomMatrix(_ rows: Int, _ columns: Int, scale: Float = 1, _ generator: inout SeededGenerator) -> Matrix {
    Matrix(rows: rows, columns: columns, storage: generator.uniform(count: rows * columns, scale: scale))
}

/// Calibration inputs `[tokens, features]` with correlated features: `X = Z·Mix` with a random
/// mixing matrix and per-feature scales spread over two orders of magnitude.
func correlatedInputs(tokens: Int, features: Int, _ generator: inout SeededGenerator) -> Matrix {
    let latent = randomMatrix(tokens, features, &generator)
    var mix = randomMatrix(features, features, scale: 0.3, &generator)
    for j in 0..<features { mix[j, j] += 1 }
    var x = GEMM.multiply(latent, mix)
    let scales = (0..<features).map { _ in Float.pow10(generator.nextSignedUnit()) }
    for t in 0..<tokens { for j in 0..<features { x[t, j] *= scales[j] } }
    return x
}

/// `‖X·Wᵀ − X·Ŵᵀ‖²` in Double.
func reconstructionError(_ x: Matrix, _ w: Matrix, _ pruned: Matrix) -> Double {
    let a = GEMM.linear(x, weight: w), b = GEMM.linear(x, weight: pruned)
    return zip(a.storage, b.storage).reduce(0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
}

/// Squared input norms `Σ_t x_tj² / N` in Double with `N = 1`.
func squaredNorms(_ x: Matrix) -> [Double] {
    (0..<x.columns).map { j in (0..<x.rows).reduce(0.0) { $0 + Double(x[$1, j]) * Double(x[$1, j]) } }
}

/// `2·XᵀX` (one sequence).
func hessian(_ x: Matrix) -> Matrix {
    var h = Matrix(rows: x.columns, columns: x.columns)
    GEMM.gramUpdate(x, into: &h, alpha: 2, beta: 0)
    return h
}

/// A statistics value with the given median, mean and outlier ratio.
func statistics(median: Double = 1, mean: Double = 1, outlierRatio: Double = 1, threshold: Double = 5) -> BlockScoreStatistics {
    BlockScoreStatistics(count: 10, median: median, mean: mean, maximum: 10, outlierThreshold: threshold,
                         outlierRatio: outlierRatio)
}

extension Float {
    static func pow10(_ x: Float) -> Float { Float(Foundation.pow(10.0, Double(x))) }
}

import Foundation
