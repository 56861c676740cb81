import Kernels
import TensorCore

extension SparseGPTPruner {
    /// GPTQ (Frantar et al., 2022) on the kept weights of `weight` (`[rows, C]`) with `mask` fixed:
    /// the OBS column loop of ``prune(_:hessian:target:name:quantization:threads:)`` where every
    /// kept weight is quantized on `quantization`'s grid and its error `(w − q)/d_j` spread over
    /// the later columns, while a masked weight stays exactly 0 and spreads nothing (its column's
    /// updates are dropped). For Wanda and magnitude, whose masks do not update weights.
    ///
    /// `hessian` (`[C, C]`) is consumed as in `prune`; masked weights must already be 0 (they are
    /// set to 0 regardless). Returns the damping and loss diagnostics (loss: quantization only).
    public func quantize(_ weight: inout Matrix, hessian: consuming Matrix, keeping mask: PruningMask,
                         as quantization: JointQuantization, name: String,
                         threads: ComputeThreads = .single) throws -> SparseGPTDiagnostics {
        let columns = weight.columns
        try Self.validate(quantization, columns: columns, name: name)
        guard mask.rows == weight.rows, mask.columns == columns else {
            throw PruningError.statisticsShape(name: name, expected: "[\(weight.rows), \(columns)] mask",
                                               actual: "[\(mask.rows), \(mask.columns)]")
        }
        try Self.validate(hessian: hessian, columns: columns, name: name)
        var h = hessian
        var diagnostics = SparseGPTDiagnostics(dampingFraction: dampingFraction, dampingRaises: 0, failures: [],
                                               deadInputs: 0, estimatedLoss: 0)
        guard weight.rows > 0, columns > 0 else { return diagnostics }
        try prepare(&weight, &h, name: name, diagnostics: &diagnostics)
        let group = JointQuantization.groupSize
        var fixed = mask
        diagnostics.estimatedLoss = try run(&weight, u: h, mask: &fixed, width: max(group, blockSize / group * group),
                                            source: .fixed, quantization: quantization, name: name, threads: threads)
        return diagnostics
    }

    /// Joint quantization needs whole 32-weight groups in every row.
    static func validate(_ quantization: JointQuantization?, columns: Int, name: String) throws {
        guard let quantization, columns % JointQuantization.groupSize != 0 else { return }
        throw PruningError.quantizationGroupDoesNotDivide(name: name, columns: columns, type: quantization.rawValue)
    }

    static func leastCommonMultiple(_ a: Int, _ b: Int) -> Int {
        var (x, y) = (a, b)
        while y != 0 { (x, y) = (y, x % y) }
        return a / x * b
    }
}
