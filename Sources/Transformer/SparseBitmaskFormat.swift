import Foundation
import Sparse
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
/// configuration plus `quantization_config` (see ``quantizationConfig(globalSparsity:structure:quantized:)``).
/// compressed-tensors 0.15 removed this compressor; 0.14.x still decompresses it.
///
/// With quantized values (compressed-tensors' "int-quantized" format composed with the bitmask,
/// as its `ModelCompressor` writes them: quantize, then bitmask-compress the integer tensor),
/// `X.compressed` holds the non-zero integer codes as I8, the bitmask marks codes ≠ 0, and a fifth
/// tensor `X.weight_scale` `[R, C/32]` (F32) holds one scale per 32 consecutive inputs of a row;
/// a weight is `code × scale`. `dlp` writes ggml's grids there: Q8_0 (codes −127…127, 8 bits) and
/// Q4_0 (codes −8…7, 4 bits; ggml's scale maps a group's largest-magnitude weight to −8, so it
/// may be negative), with scales that are f16 values (ggml's), widened to F32 so that
/// `code × scale` is exact in F32.
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

    /// The scale tensor of a quantized weight `X.weight`: `X.weight_scale`.
    public static func scaleName(weight: String) -> String { weight + "_scale" }

    /// `config.json`'s `quantization_config` as compressed-tensors 0.14's
    /// `ModelCompressor.update_config` writes it (keys sorted, as it dumps them): `quant_method`,
    /// `sparsity_config` (the fields of `SparsityCompressionConfig`: `format`, `global_sparsity`,
    /// `ignore`, `sparsity_structure`, `targets`), an empty `transform_config` and `version`; with
    /// `quantized`, also the quantization scheme of the linears (`config_groups.group_0`: 8 or 4
    /// bit symmetric integers, one scale per group of 32 inputs), `format` `int-quantized`,
    /// `quantization_status` `compressed` and `ignore` `[lm_head]`. Without it there is no
    /// top-level `format`: compressed-tensors reads any key besides these as a quantization config,
    /// which needs `config_groups`.
    ///
    /// `globalSparsity`: fraction of the model's weights that are zero, as llm-compressor's
    /// `infer_global_sparsity` measures it (every parameter counted); `structure`:
    /// `"unstructured"` or `"N:M"`.
    public static func quantizationConfig(globalSparsity: Double, structure: String, quantized: QuantizedType? = nil) -> JSONValue {
        let sparsity = JSONValue.object(JSONObject([
            ("format", .string(formatName)),
            ("global_sparsity", .number(globalSparsity)),
            ("ignore", .array([.string("lm_head")])),
            ("sparsity_structure", .string(structure)),
            ("targets", .array([.string("Linear")])),
        ]))
        guard let quantized else {
            return .object(JSONObject([
                ("quant_method", .string(quantizationMethod)),
                ("sparsity_config", sparsity),
                ("transform_config", .object(JSONObject())),
                ("version", .string(version)),
            ]))
        }
        let weights = JSONValue.object(JSONObject([
            ("actorder", .null), ("block_structure", .null), ("dynamic", .bool(false)),
            ("group_size", .integer(QuantizedType.group)), ("num_bits", .integer(bits(quantized))),
            ("observer", .string("minmax")), ("observer_kwargs", .object(JSONObject())), ("scale_dtype", .null),
            ("strategy", .string("group")), ("symmetric", .bool(true)), ("type", .string("int")), ("zp_dtype", .null),
        ]))
        let group = JSONValue.object(JSONObject([
            ("format", .null), ("input_activations", .null), ("output_activations", .null),
            ("targets", .array([.string("Linear")])), ("weights", weights),
        ]))
        return .object(JSONObject([
            ("config_groups", .object(JSONObject([("group_0", group)]))),
            ("format", .string(quantizedFormatName)),
            ("global_compression_ratio", .null),
            ("ignore", .array([.string("lm_head")])),
            ("kv_cache_scheme", .null),
            ("quant_method", .string(quantizationMethod)),
            ("quantization_status", .string("compressed")),
            ("sparsity_config", sparsity),
            ("transform_config", .object(JSONObject())),
            ("version", .string(version)),
        ]))
    }

    /// `quantization_config.format` of quantized values: integers stored one per byte.
    public static let quantizedFormatName = "int-quantized"

    /// Bits of a code: 8 for Q8_0, 4 for Q4_0.
    static func bits(_ type: QuantizedType) -> Int { type == .q8_0 ? 8 : 4 }

    /// Whether `config` (a `config.json`, read from `file`) declares this layout: nil without a
    /// `quantization_config`; for compressed-tensors with `sparsity_config.format` `sparse-bitmask`,
    /// the quantized grid of the values (nil for float values). A quantization scheme is accepted
    /// only as `dlp` writes it (one group of 8- or 4-bit symmetric integers, group size 32, format
    /// `int-quantized`); any other method, scheme or format is an error naming the key and what is
    /// supported.
    static func declaredLayout(in config: JSONValue, file: String) throws -> Layout? {
        guard let q = config["quantization_config"], !q.isNull else { return nil }
        let supported = ["\(quantizationMethod) with sparsity_config.format \(formatName), float values or "
                         + "\(quantizedFormatName) 8- or 4-bit symmetric integers in groups of 32 inputs"]
        let method = q["quant_method"]?.stringValue ?? q["quant_method"]?.kindName ?? "(missing)"
        guard method == quantizationMethod else {
            throw SparseCheckpointError.unsupportedCompression(file: file, key: "quantization_config.quant_method", value: method,
                                                               supported: supported)
        }
        var quantized: QuantizedType?
        if let groups = q["config_groups"], !groups.isNull {
            func refuse(_ key: String, _ value: String) -> SparseCheckpointError {
                .unsupportedCompression(file: file, key: "quantization_config." + key, value: value, supported: supported)
            }
            guard let members = groups.objectValue, members.count == 1, let (name, group) = members.members.first else {
                throw refuse("config_groups", "\(groups.objectValue?.count ?? 0) groups (one is supported)")
            }
            let w = group["weights"] ?? .null
            let format = q["format"]?.stringValue ?? "(missing)"
            guard format == quantizedFormatName else { throw refuse("format", format) }
            if let input = group["input_activations"], !input.isNull { throw refuse("config_groups.\(name).input_activations", "activation quantization") }
            guard w["type"]?.stringValue == "int" else { throw refuse("config_groups.\(name).weights.type", w["type"]?.serialized() ?? "(missing)") }
            guard w["symmetric"]?.boolValue == true else { throw refuse("config_groups.\(name).weights.symmetric", w["symmetric"]?.serialized() ?? "(missing)") }
            guard w["strategy"]?.stringValue == "group" else { throw refuse("config_groups.\(name).weights.strategy", w["strategy"]?.serialized() ?? "(missing)") }
            guard w["group_size"]?.intValue == QuantizedType.group else {
                throw refuse("config_groups.\(name).weights.group_size", w["group_size"]?.serialized() ?? "(missing)")
            }
            if let dynamic = w["dynamic"], dynamic.boolValue != false, !dynamic.isNull { throw refuse("config_groups.\(name).weights.dynamic", dynamic.serialized()) }
            if let order = w["actorder"], !order.isNull { throw refuse("config_groups.\(name).weights.actorder", order.serialized()) }
            switch w["num_bits"]?.intValue {
            case 8: quantized = .q8_0
            case 4: quantized = .q4_0
            default: throw refuse("config_groups.\(name).weights.num_bits", w["num_bits"]?.serialized() ?? "(missing)")
            }
        }
        let format = q["sparsity_config"]?["format"]?.stringValue ?? "(missing)"
        guard format == formatName else {
            throw SparseCheckpointError.unsupportedCompression(file: file, key: "quantization_config.sparsity_config.format",
                                                               value: format, supported: [formatName])
        }
        return Layout(quantized: quantized)
    }

    /// What a `quantization_config` declares: the bitmask layout, its values float or on a grid.
    struct Layout: Equatable {
        var quantized: QuantizedType?
    }
}
