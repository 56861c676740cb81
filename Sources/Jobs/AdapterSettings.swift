import Foundation
import Training
import Transformer

/// A LoRA adapter to apply to a model at load time (`--adapter DIR` of `dlp perplexity`, `eval`,
/// `generate`): read with ``PEFTAdapter/read(from:configuration:convention:masked:)`` and merged
/// into each block's weights as the block is loaded (``TrainableParameters/merged(_:block:)``),
/// so the model runs `W + (α/r)·B·A` (or `W + (α/r)·(B·A) ⊙ [W ≠ 0]` masked) with the base
/// checkpoint left as it is. Merging in memory computes exactly what the unmerged adapter
/// computes, up to the rounding of the sum to Float.
public struct AdapterSettings: Sendable, Codable, Equatable {
    /// Whether the update is masked by the base weights' non-zeros.
    public enum Mask: String, Sendable, Codable, CaseIterable {
        /// As the adapter's `dlp_adapter.json` says (a `dlp finetune` adapter); unmasked for an
        /// adapter without one (peft's own, which applies `B·A` unmasked).
        case auto
        case on
        case off

        public static func parse(_ text: String) throws -> Mask {
            guard let mask = Mask(rawValue: text) else {
                throw JobError.invalidSetting(setting: "adapter-mask", reason: "'\(text)' is not valid; valid: \(allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return mask
        }
    }

    /// The adapter directory (`adapter_config.json`, `adapter_model.safetensors`).
    public var path: String
    public var mask: Mask

    public init(path: String, mask: Mask = .auto) {
        self.path = path
        self.mask = mask
    }

    /// Throws unless `path` holds an adapter configuration (the full check needs the model).
    public func validate() throws {
        let config = URL(fileURLWithPath: path).appendingPathComponent(PEFTAdapter.configFileName)
        guard FileManager.default.isReadableFile(atPath: config.path) else {
            throw JobError.invalidSetting(setting: "adapter", reason: "\(path) holds no readable \(PEFTAdapter.configFileName); give the adapter/ folder of a dlp finetune output or a peft save_pretrained directory")
        }
    }

    /// The adapter applied to `checkpoint`.
    public struct Applied: Sendable {
        /// Block `i`'s weights with the adapter merged in.
        public var blocks: @Sendable (Int) throws -> BlockWeights
        /// The trained final norm gain, nil when the adapter trains no gains.
        public var finalNorm: [Float]?
        /// One line: what was applied.
        public var summary: String
    }

    /// Reads the adapter for `checkpoint` (strictly: shapes, keys, types) and returns the merged
    /// block weights.
    public func apply(to checkpoint: Checkpoint) throws -> Applied {
        let masked: Bool? = switch mask {
        case .auto: nil
        case .on: true
        case .off: false
        }
        let loaded = try PEFTAdapter.read(from: URL(fileURLWithPath: path), configuration: checkpoint.configuration,
                                          convention: checkpoint.rotaryConvention, masked: masked)
        let parameters = loaded.parameters, lora = parameters.lora
        let finalNorm = lora.trainsNormGains ? parameters.mergedFinalNorm(try checkpoint.outputNorm()) : nil
        let summary = "adapter \(path): LoRA r \(lora.rank), α \(lora.alpha)\(loaded.usesRSLoRA ? " (rsLoRA α·√r)" : "") on \(lora.targets.map(PEFTAdapter.moduleName).joined(separator: ",")), \(lora.masked ? "masked" : "unmasked") (\(loaded.maskSource))\(lora.trainsNormGains ? ", norm gains" : "")"
        return Applied(blocks: { try parameters.merged(checkpoint.block($0), block: $0) }, finalNorm: finalNorm, summary: summary)
    }
}
