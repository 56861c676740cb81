import Kernels
import TensorCore

/// The calibration statistics a pruning method reads for one linear layer.
public enum LinearCalibration: Sendable {
    /// Nothing (magnitude).
    case none
    /// Squared input norms `s` (`[in]`, ``InputNormObserver``), for Wanda.
    case inputNorms([Double])
    /// The Hessian `(2/N)Σ x xᵀ` (`[in, in]`, ``HessianObserver``), for SparseGPT.
    case hessian(Matrix)
}

/// What a method needs observed during calibration.
public enum CalibrationNeed: Sendable, Equatable {
    case none, inputNorms, hessian
}

extension PruningMethod {
    /// The statistic the pipeline must accumulate for this method.
    public var calibrationNeed: CalibrationNeed {
        switch self {
        case .magnitude: return .none
        case .wanda: return .inputNorms
        case .sparsegpt: return .hessian
        }
    }
}

/// One matrix, one method, one target: the single entry the pipeline calls for every linear
/// (score × pattern; the allocation only chooses `target`).
///
/// - magnitude: ``ScoreMaskPruner`` with `|W|`, compared per matrix.
/// - wanda: ``ScoreMaskPruner`` with `|W|·sqrt(s)`, compared per row.
/// - sparsegpt: ``SparseGPTPruner``.
public struct LinearPruner: Sendable {
    public var method: PruningMethod
    /// SparseGPT's settings (ignored by the other methods).
    public var sparseGPT: SparseGPTPruner
    public var threads: ComputeThreads

    public init(method: PruningMethod, sparseGPT: SparseGPTPruner = SparseGPTPruner(), threads: ComputeThreads = .single) {
        self.method = method
        self.sparseGPT = sparseGPT
        self.threads = threads
    }

    /// Prunes `weight` (`[out, in]`) in place to `target`; `name` identifies it in errors.
    public func prune(_ weight: inout Matrix, target: SparsityTarget, calibration: consuming LinearCalibration,
                      name: String) throws -> LinearPruningOutcome {
        switch (method, calibration) {
        case (.magnitude, _):
            return try ScoreMaskPruner.prune(&weight, score: .magnitude, group: .matrix, target: target,
                                             name: name, threads: threads)
        case let (.wanda, .inputNorms(s)):
            guard s.count == weight.columns else {
                throw PruningError.statisticsShape(name: name, expected: "[\(weight.columns)] input norms", actual: "[\(s.count)]")
            }
            return try ScoreMaskPruner.prune(&weight, score: .wanda(squaredNorms: s), group: .row, target: target,
                                             name: name, threads: threads)
        case let (.sparsegpt, .hessian(h)):
            return try sparseGPT.prune(&weight, hessian: h, target: target, name: name, threads: threads)
        case (.wanda, _):
            throw PruningError.missingStatistics(role: name, statistic: "input norms")
        case (.sparsegpt, _):
            throw PruningError.missingStatistics(role: name, statistic: "Hessian")
        }
    }
}
