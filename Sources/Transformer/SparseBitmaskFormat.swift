import Foundation
import TensorIO

/// The compressed-tensors "sparse-bitmask" checkpoint layout, as compressed-tensors 0.14.x writes
/// it (`compressors/sparse_compressors/sparse_bitmask.py`, `ModelCompressor.update_config`).
///
/// Each compressed weight `X.weight` `[R, C]` is stored as four tensors in place of it:
///
/// | key | dtype | shape | content |
/// |---|---|---|---|
/// | `X.shape` | I64 | `[2]` | `[R, C]` |
/// | `X.compressed` | the value type (F32, F16, BF16) | `[nnz]` | the non-zeros, row-major |
/// | `X.bitmask` | U8 | `[R, ⌈C/8⌉]` | `packbits(W != 0, bitorder="little")` |
/// | `X.row_offsets` | I64 | `[R]` | exclusive prefix sums of the non-zeros per row |
///
/// Every other tensor stays dense under its own name. `config.json` carries the Hugging Face
/// configuration plus `quantization_config` (see ``quantizationConfig(globalSparsity:structure:)``).
/// compressed-tensors 0.15 removed this compressor; 0.14.x still decompresses it.
public enum SparseBitmaskFormat {
    /// `quantization_config.quant_method`.
    public static let quantizationMethod = "compressed-tensors"
    /// `quantization_config.sparsity_config.format`.
    public static let formatName = "sparse-bitmask"
    /// The compressed-tensors release whose layout this follows, written as `version`.
    public static let version = "0.14.0.1"
    /// The four tensors that replace `X.weight`, as suffixes of `X`.
    public enum Part: String, CaseIterable, Sendable {
        case shape, compressed, bitmask, rowOffsets = "row_offsets"
    }

    /// The name of `part` of the weight `X.weight` (`X.bitmask`, ...).
    public static func name(of part: Part, weight: String) -> String {
        prefix(weight) + "." + part.rawValue
    }

    /// `X` of a weight name `X.weight`.
    static func prefix(_ weight: String) -> String {
        weight.hasSuffix(".weight") ? String(weight.dropLast(".weight".count)) : weight
    }

    /// `config.json`'s `quantization_config` as compressed-tensors 0.14's
    /// `ModelCompressor.update_config` writes it for a sparsity-only model (keys sorted, as it
    /// dumps them): `quant_method`, `sparsity_config` (the fields of `SparsityCompressionConfig`:
    /// `format`, `global_sparsity`, `ignore`, `sparsity_structure`, `targets`), an empty
    /// `transform_config` and `version`. There is no top-level `format`: compressed-tensors reads
    /// any key besides these as a quantization config, which needs `config_groups`.
    ///
    /// `globalSparsity`: fraction of the model's weights that are zero, as llm-compressor's
    /// `infer_global_sparsity` measures it (every parameter counted); `structure`:
    /// `"unstructured"` or `"N:M"`.
    public static func quantizationConfig(globalSparsity: Double, structure: String) -> JSONValue {
        .object(JSONObject([
            ("quant_method", .string(quantizationMethod)),
            ("sparsity_config", .object(JSONObject([
                ("format", .string(formatName)),
                ("global_sparsity", .number(globalSparsity)),
                ("ignore", .array([.string("lm_head")])),
                ("sparsity_structure", .string(structure)),
                ("targets", .array([.string("Linear")])),
            ]))),
            ("transform_config", .object(JSONObject())),
            ("version", .string(version)),
        ]))
    }

    /// Whether `config` (a `config.json`, read from `file`) declares this layout: false without a
    /// `quantization_config`, true for compressed-tensors with `sparsity_config.format`
    /// `sparse-bitmask` and no quantization; any other method or format is an error naming the key
    /// and what is supported.
    static func isDeclared(in config: JSONValue, file: String) throws -> Bool {
        guard let q = config["quantization_config"], !q.isNull else { return false }
        let supported = ["\(quantizationMethod) with sparsity_config.format \(formatName) (no quantization)"]
        let method = q["quant_method"]?.stringValue ?? q["quant_method"]?.kindName ?? "(missing)"
        guard method == quantizationMethod else {
            throw SparseCheckpointError.unsupportedCompression(file: file, key: "quantization_config.quant_method", value: method,
                                                               supported: supported)
        }
        if let groups = q["config_groups"], !groups.isNull {
            throw SparseCheckpointError.unsupportedCompression(file: file, key: "quantization_config.config_groups",
                                                               value: "a quantization scheme", supported: supported)
        }
        let format = q["sparsity_config"]?["format"]?.stringValue ?? "(missing)"
        guard format == formatName else {
            throw SparseCheckpointError.unsupportedCompression(file: file, key: "quantization_config.sparsity_config.format",
                                                               value: format, supported: [formatName])
        }
        return true
    }
}
