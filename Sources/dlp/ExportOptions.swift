import Jobs
import Sparse

/// Options of the export formats, shared by `dlp prune` and `dlp convert`.
enum ExportOptions {
    static let sparseType = Option("--sparse-dtype", WeightType.allCases.map(\.rawValue).joined(separator: "|"),
                                   "value type of the non-zeros in sparse/ (default bf16); q8_0, q4_0: int8 codes on\nggml's grid with a scale per 32 inputs (compressed-tensors int-quantized), other tensors bf16")

    /// `--sparse-dtype`, bf16 when absent.
    static func sparseType(_ arguments: inout Arguments) throws -> WeightType {
        try arguments.value(sparseType) { try WeightType.parse($0) } ?? .bf16
    }

    /// A `--formats` list, `defaults` when absent.
    static func formats(_ option: Option, _ arguments: inout Arguments,
                        defaults: [PruneJob.ExportFormat]) throws -> [PruneJob.ExportFormat] {
        try arguments.value(option) { text in
            do { return try PruneJob.ExportFormat.parseList(text) } catch let error as JobError {
                guard case let .invalidSetting(_, reason) = error else { throw error }
                throw UsageError(reason)
            }
        } ?? defaults
    }
}
