/// Errors of pruning settings, calibration statistics and results. Each case names the matrix
/// (`name`, e.g. `blk.3.ffn_down.weight`), the setting or the position involved.
public enum PruningError: Error, CustomStringConvertible, Equatable {
    /// A CLI or configuration value that is not one of the valid forms.
    case invalidSetting(name: String, value: String, valid: String)
    /// A sparsity ratio outside `[0, 1)`.
    case ratioOutOfRange(name: String, ratio: Double)
    /// The input size of a matrix is not a multiple of the N:M group size.
    case groupDoesNotDivide(name: String, columns: Int, group: Int)
    /// Calibration statistics whose size does not fit the matrix.
    case statisticsShape(name: String, expected: String, actual: String)
    /// No calibration statistics were recorded for a role the method needs.
    case missingStatistics(role: String, statistic: String)
    /// A score, weight or statistic is NaN or infinite.
    case nonFiniteValue(name: String, row: Int, column: Int)
    /// The layerwise ratios cannot average `target` inside the allowed range.
    case allocationImpossible(target: Double, parameter: String, value: Double, reason: String)
    /// Statistics computed for one allocation's settings were handed to another.
    case statisticsMismatch(expected: String, actual: String)
    /// SparseGPT's Hessian stayed non-positive-definite after every damping raise.
    case hessianNotPositiveDefinite(name: String, dampingFraction: Double, detail: String)
    /// A pruned matrix does not have the zeros that were requested.
    case sparsityMismatch(name: String, location: String, expected: Int, actual: Int)
    /// Joint quantization needs the input size to be a whole number of 32-weight blocks.
    case quantizationGroupDoesNotDivide(name: String, columns: Int, type: String)
    /// A group's quantization scale does not fit fp16 (its largest kept weight exceeds 65504 levels).
    case quantizationScaleOverflow(name: String, row: Int, column: Int)

    public var description: String {
        switch self {
        case let .invalidSetting(name, value, valid):
            return "\(name) '\(value)' is not valid; valid: \(valid)"
        case let .ratioOutOfRange(name, ratio):
            return "\(name): sparsity ratio \(ratio) is outside [0, 1)"
        case let .groupDoesNotDivide(name, columns, group):
            return "\(name): \(columns) input features are not a multiple of the N:M group size \(group); choose a group that divides the input size"
        case let .statisticsShape(name, expected, actual):
            return "\(name): calibration statistics have shape \(actual), expected \(expected)"
        case let .missingStatistics(role, statistic):
            return "no \(statistic) recorded for \(role): run the calibration forward pass with the observer attached (and the role kept) before pruning"
        case let .nonFiniteValue(name, row, column):
            return "\(name): non-finite value at row \(row), column \(column); the weights or calibration activations contain NaN or infinity"
        case let .allocationImpossible(target, parameter, value, reason):
            return "layerwise ratios cannot average p = \(target) with \(parameter) = \(value): \(reason)"
        case let .statisticsMismatch(expected, actual):
            return "block statistics were computed for \(actual), the allocation needs \(expected); recompute them with the allocation's settings"
        case let .hessianNotPositiveDefinite(name, damping, detail):
            return "\(name): the Hessian is not positive definite even with damping \(damping)·mean(diag H) (\(detail)); use more calibration tokens or a larger damping"
        case let .sparsityMismatch(name, location, expected, actual):
            return "\(name): \(location) has \(actual) pruned weights, expected \(expected)"
        case let .quantizationGroupDoesNotDivide(name, columns, type):
            return "\(name): \(columns) input features are not a multiple of \(type)'s 32-weight block; joint quantization needs whole blocks (leave out --quantize for this model)"
        case let .quantizationScaleOverflow(name, row, column):
            return "\(name): the quantization scale of the group holding row \(row), column \(column) overflows fp16; the weights are too large for a GGUF block type"
        }
    }
}
