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

/// `--adapter DIR [--adapter-mask auto|on|off]`, shared by `perplexity`, `eval` and `generate`.
enum AdapterOptions {
    static let adapter = Option("--adapter", "DIR", "apply a LoRA adapter (the adapter/ of a dlp finetune output, or a peft\nsave_pretrained directory), merged into the weights in memory as they load")
    static let mask = Option("--adapter-mask", "auto|on|off", "mask the adapter's update by the base weights' non-zeros: auto (default) as the\nadapter's dlp_adapter.json says, unmasked for a peft adapter without one")
    static let options = [adapter, mask]

    /// The adapter settings, nil without `--adapter`.
    static func settings(_ arguments: inout Arguments) throws -> AdapterSettings? {
        let mask = try arguments.value(Self.mask) { text in
            do { return try AdapterSettings.Mask.parse(text) } catch let error as JobError {
                guard case let .invalidSetting(_, reason) = error else { throw error }
                throw UsageError(reason)
            }
        }
        guard let path = try arguments.value(adapter) else {
            if mask != nil { throw UsageError("--adapter-mask applies only with --adapter DIR") }
            return nil
        }
        return AdapterSettings(path: path, mask: mask ?? .auto)
    }
}
