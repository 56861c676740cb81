import TensorCore

/// The score a within-layer pruner ranks weights by (lowest pruned first), row by row.
///
/// - `magnitude`: `|W_ij|`.
/// - `wanda`: `|W_ij| · sqrt(s_j)` with `s_j` the squared input norm
///   (``InputNormObserver``), DLP-METHOD §3 step 2 and §5.
///
/// SparseGPT's score `w² / U_jj²` depends on the running weight update and lives in
/// ``SparseGPTPruner``.
public enum WeightScore: Sendable, Equatable {
    case magnitude
    /// `scale[j] = sqrt(s_j)`, as Float. `[in]`
    case wanda(scale: [Float])

    /// Wanda's score from squared input norms `s` (`[in]`): `scale = sqrt(s)`.
    public static func wanda(squaredNorms s: [Double]) -> WeightScore {
        .wanda(scale: s.map { Float($0.squareRoot()) })
    }

    /// Writes the scores of one row `w` (`[columns]`) into `out`. Returns the first column whose
    /// score is not finite, or nil.
    @inline(__always)
    func scoreRow(_ w: UnsafePointer<Float>, columns: Int, into out: UnsafeMutablePointer<Float>) -> Int? {
        switch self {
        case .magnitude:
            for j in 0..<columns { out[j] = abs(w[j]) }
        case let .wanda(scale):
            scale.withUnsafeBufferPointer { s in
                for j in 0..<columns { out[j] = abs(w[j]) * s[j] }
            }
        }
        for j in 0..<columns where !out[j].isFinite { return j }
        return nil
    }

    /// Throws unless the score fits a matrix with `columns` inputs.
    func validate(columns: Int, name: String) throws {
        if case let .wanda(scale) = self, scale.count != columns {
            throw PruningError.statisticsShape(name: name, expected: "[\(columns)] input norms",
                                               actual: "[\(scale.count)]")
        }
        if case let .wanda(scale) = self, let j = scale.firstIndex(where: { !$0.isFinite }) {
            throw PruningError.nonFiniteValue(name: name + " input norms", row: 0, column: j)
        }
    }
}
