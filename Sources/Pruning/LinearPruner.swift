import Kernels
import TensorCore

/// The calibration statistics a pruning method reads for one linear layer.
public enum LinearCalibration: Sendable {
    /// Nothing (magnitude).
    case none
    /// Squared input norms `s` (`[in]`, ``InputNormObserver``), for Wanda.
    case inputNorms([Double])
    /// The Hessian `(2/N)Σ x xᵀ` (`[in, in]`, ``HessianObserver``), for SparseGPT and for
    /// magnitude with joint quantization.
    case hessian(Matrix)
    /// Both, for Wanda with joint quantization (the norms choose the mask, the Hessian drives GPTQ).
    case inputNormsAndHessian([Double], Matrix)
}

/// What a method needs observed during calibration.
public enum CalibrationNeed: Sendable, Equatable {
    case none, inputNorms, hessian, inputNormsAndHessian
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
///
/// With `quantization`, the kept weights are also quantized on its grid: SparseGPT inside its
/// OBS loop, magnitude and Wanda by GPTQ with their mask fixed
/// (``SparseGPTPruner/quantize(_:hessian:keeping:as:name:threads:)``), both from the Hessian.
public struct LinearPruner: Sendable {
    public var method: PruningMethod
    /// SparseGPT's settings (also those of the GPTQ loop of joint quantization).
    public var sparseGPT: SparseGPTPruner
    /// Joint quantization of the kept weights; nil keeps them in f32.
    public var quantization: JointQuantization?
    public var threads: ComputeThreads

    public init(method: PruningMethod, sparseGPT: SparseGPTPruner = SparseGPTPruner(),
                quantization: JointQuantization? = nil, threads: ComputeThreads = .single) {
        self.method = method
        self.sparseGPT = sparseGPT
        self.quantization = quantization
        self.threads = threads
    }

    /// The statistics the pipeline must accumulate: the method's, plus the Hessian when quantizing.
    public var calibrationNeed: CalibrationNeed {
        guard quantization != nil else { return method.calibrationNeed }
        return method == .wanda ? .inputNormsAndHessian : .hessian
    }

    /// Prunes `weight` (`[out, in]`) in place to `target`; `name` identifies it in errors.
    ///
    /// The statistics are taken out of `calibration` first, so the Hessian has one owner when
    /// SparseGPT (or the GPTQ loop of joint quantization) factors it in place: a second reference
    /// would turn that into a copy of an `[in, in]` matrix (LLaMA-3-8B's down: 0.8 GB).
    public func prune(_ weight: inout Matrix, target: SparsityTarget, calibration: consuming LinearCalibration,
                      name: String) throws -> LinearPruningOutcome {
        var hessian: Matrix?, norms: [Double]?
        switch calibration {
        case .none: break
        case .inputNorms(let s): norms = s
        case .hessian(let h): hessian = h
        case .inputNormsAndHessian(let s, let h): (norms, hessian) = (s, h)
        }
        calibration = .none
        var outcome: LinearPruningOutcome
        switch method {
        case .sparsegpt:
            guard let h = hessian else { throw PruningError.missingStatistics(role: name, statistic: "Hessian") }
            hessian = nil
            return try sparseGPT.prune(&weight, hessian: h, target: target, name: name, quantization: quantization,
                                       threads: threads)
        case .magnitude:
            outcome = try ScoreMaskPruner.prune(&weight, score: .magnitude, group: .matrix, target: target,
                                                name: name, threads: threads)
        case .wanda:
            guard let norms else { throw PruningError.missingStatistics(role: name, statistic: "input norms") }
            outcome = try wanda(&weight, norms, target: target, name: name)
        }
        guard let quantization else { return outcome }
        guard let h = hessian else { throw PruningError.missingStatistics(role: name, statistic: "Hessian (for joint quantization)") }
        hessian = nil
        outcome.sparseGPT = try sparseGPT.quantize(&weight, hessian: h, keeping: outcome.mask, as: quantization,
                                                   name: name, threads: threads)
        return outcome
    }

    private func wanda(_ weight: inout Matrix, _ s: [Double], target: SparsityTarget, name: String) throws -> LinearPruningOutcome {
        guard s.count == weight.columns else {
            throw PruningError.statisticsShape(name: name, expected: "[\(weight.columns)] input norms", actual: "[\(s.count)]")
        }
        return try ScoreMaskPruner.prune(&weight, score: .wanda(squaredNorms: s), group: .row, target: target,
                                         name: name, threads: threads)
    }
}
