import Foundation
import Kernels
import TensorCore
import TensorIO
import Transformer

/// A LoRA adapter in Hugging Face PEFT's on-disk layout (`save_pretrained` of a `LoraConfig`
/// model), which `peft.PeftModel.from_pretrained(model, DIR)` loads onto the `hf/` export:
///
///     DIR/adapter_config.json          peft_type LORA, task_type CAUSAL_LM, r, lora_alpha,
///                                      lora_dropout, target_modules (q_proj, v_proj, ...), bias none
///     DIR/adapter_model.safetensors    metadata {"format": "pt"}, F32:
///         base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight   [r, in]
///         base_model.model.model.layers.N.self_attn.q_proj.lora_B.weight   [out, r]
///         (mlp.gate_proj, mlp.up_proj, mlp.down_proj for the MLP)
///
/// and two files of dlp's own, which peft ignores:
///
///     DIR/dlp_adapter.json             {"masked": true|false}: how the update was trained
///     DIR/norm_gains.safetensors       trained RMSNorm gains (`--train-norms`), Hugging Face names
///                                      (model.layers.N.input_layernorm.weight, ..., model.norm.weight)
///
/// Row order: a GGUF `llama` checkpoint holds q/k rows permuted (``QKRowPermutation``), so the
/// training run's `B` of q_proj/k_proj is in GGUF row order; it is written in Hugging Face order
/// (`toHuggingFace` on B's rows; `A` acts on the input and is unaffected) and permuted back on
/// reading onto such a model. The update `B·A` then matches the weight's rows in either format.
///
/// A masked adapter (``LoRAConfiguration/masked``) computes `(B·A) ⊙ M`; peft applies `B·A`
/// unmasked, so peft reproduces dlp's masked model only through the merged weights (`--merge`).
public enum PEFTAdapter {
    public static let configFileName = "adapter_config.json"
    public static let weightsFileName = "adapter_model.safetensors"
    public static let dlpFileName = "dlp_adapter.json"
    public static let normGainsFileName = "norm_gains.safetensors"

    /// The peft module name of a block linear (`q_proj`, ..., `down_proj`).
    public static func moduleName(_ role: TensorRole) -> String {
        let name = role.huggingFaceName(block: 0).dropLast(".weight".count)
        return String(name.split(separator: ".").last ?? "")
    }

    /// The safetensors key of `A` (`matrix` "lora_A") or `B` ("lora_B") of `role` in `block`.
    public static func key(block: Int, role: TensorRole, matrix: String) -> String {
        "base_model.model." + role.huggingFaceName(block: block).dropLast(".weight".count) + ".\(matrix).weight"
    }

    /// What ``read(from:configuration:convention:masked:)`` found.
    public struct Loaded: Sendable {
        /// The adapter's values in the checkpoint's row order, ready for ``TrainableParameters/merged(_:block:)``.
        public var parameters: TrainableParameters<Float>
        /// `base_model_name_or_path` as written.
        public var baseModel: String?
        /// Where the masking choice came from: `dlp_adapter.json`, the caller, or the default (unmasked).
        public var maskSource: String
        /// Whether peft's `use_rslora` was set (scale α/√r).
        public var usesRSLoRA: Bool
    }

    /// Writes `parameters` (in the row order of a checkpoint with `convention`) to `directory`.
    public static func write(_ parameters: TrainableParameters<Float>, configuration c: ModelConfiguration,
                             convention: RotaryConvention, baseModel: String, to directory: URL) throws {
        let lora = parameters.lora
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = JSONValue.object(JSONObject([
            ("peft_type", .string("LORA")),
            ("task_type", .string("CAUSAL_LM")),
            ("base_model_name_or_path", .string(baseModel)),
            ("r", .integer(lora.rank)),
            ("lora_alpha", .number(lora.alpha)),
            ("lora_dropout", .number(lora.dropout)),
            ("target_modules", .array(lora.targets.map { .string(moduleName($0)) })),
            ("bias", .string("none")),
            ("fan_in_fan_out", .bool(false)),
            ("use_rslora", .bool(false)),
            ("use_dora", .bool(false)),
            ("init_lora_weights", .bool(true)),
            ("inference_mode", .bool(true)),
            ("modules_to_save", .null),
            ("layers_to_transform", .null),
            ("revision", .null),
        ]))
        try Data((config.serialized(pretty: true) + "\n").utf8).write(to: directory.appendingPathComponent(configFileName), options: .atomic)
        var tensors = [SafetensorsWriter.Tensor]()
        for block in 0..<c.layerCount {
            for role in lora.targets {
                let a = parameters.entry(.loraA(block: block, role: role)), b = parameters.entry(.loraB(block: block, role: role))
                var bValues = Array(parameters.values[b.range])
                if let heads = permutedHeads(role, c, convention) {
                    bValues = QKRowPermutation.toHuggingFace(bValues, heads: heads, columns: b.columns)
                }
                tensors.append(.init(name: key(block: block, role: role, matrix: "lora_A"), dtype: .f32, shape: [a.rows, a.columns],
                                     values: Array(parameters.values[a.range])))
                tensors.append(.init(name: key(block: block, role: role, matrix: "lora_B"), dtype: .f32, shape: [b.rows, b.columns],
                                     values: bValues))
            }
        }
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: directory.appendingPathComponent(weightsFileName))
        let dlp = JSONValue.object(JSONObject([("masked", .bool(lora.masked)), ("trains_norm_gains", .bool(lora.trainsNormGains))]))
        try Data((dlp.serialized(pretty: true) + "\n").utf8).write(to: directory.appendingPathComponent(dlpFileName), options: .atomic)
        let normsURL = directory.appendingPathComponent(normGainsFileName)
        if lora.trainsNormGains {
            var gains = [SafetensorsWriter.Tensor]()
            for entry in parameters.entries {
                guard let name = normName(entry.kind) else { continue }
                gains.append(.init(name: name, dtype: .f32, shape: [entry.columns], values: Array(parameters.values[entry.range])))
            }
            try SafetensorsWriter.write(gains, metadata: ["format": "pt"], to: normsURL)
        } else {
            try? FileManager.default.removeItem(at: normsURL)
        }
    }

    /// Reads the adapter in `directory` for a model of configuration `c` whose checkpoint has
    /// `convention`. `masked`: force the masking choice (nil: `dlp_adapter.json`'s, else unmasked,
    /// as peft applies an adapter). Strict: every key of the configured targets in every block,
    /// shapes `[r, in]` / `[out, r]`, no other tensor, finite values.
    public static func read(from directory: URL, configuration c: ModelConfiguration, convention: RotaryConvention,
                            masked: Bool? = nil) throws -> Loaded {
        let configURL = directory.appendingPathComponent(configFileName)
        let configPath = configURL.path
        let json = try readJSON(configURL)
        func invalid(_ key: String, _ found: JSONValue?, _ expected: String) -> AdapterError {
            .invalidConfig(path: configPath, key: key, found: found.map { "\($0.serialized())" } ?? "missing", expected: expected)
        }
        guard json["peft_type"]?.stringValue == "LORA" else { throw invalid("peft_type", json["peft_type"], "\"LORA\"") }
        if let task = json["task_type"], !task.isNull, task.stringValue != "CAUSAL_LM" {
            throw invalid("task_type", task, "\"CAUSAL_LM\"")
        }
        guard let rank = json["r"]?.intValue, rank >= 1 else { throw invalid("r", json["r"], "an integer ≥ 1") }
        var alpha = 8.0   // peft's default lora_alpha
        if let value = json["lora_alpha"], !value.isNull {
            guard let a = value.doubleValue, a.isFinite, a > 0 else { throw invalid("lora_alpha", value, "a positive number") }
            alpha = a
        }
        var dropout = 0.0
        if let value = json["lora_dropout"], !value.isNull {
            guard let p = value.doubleValue, p >= 0, p < 1 else { throw invalid("lora_dropout", value, "a number in [0, 1)") }
            dropout = p
        }
        func flag(_ key: String) throws -> Bool {
            guard let value = json[key], !value.isNull else { return false }
            guard let b = value.boolValue else { throw invalid(key, value, "true or false") }
            return b
        }
        if let bias = json["bias"], !bias.isNull, bias.stringValue != "none" {
            throw AdapterError.unsupported(path: configPath, key: "bias", value: bias.serialized(), reason: "only \"none\" (no trained biases)")
        }
        for key in ["fan_in_fan_out", "use_dora"] where try flag(key) {
            throw AdapterError.unsupported(path: configPath, key: key, value: "true", reason: key == "use_dora" ? "DoRA adapters are not LoRA updates B·A" : "weights are stored [out, in]")
        }
        let usesRSLoRA = try flag("use_rslora")
        // With rsLoRA the scale is α/√r; α' = α·√r gives α'/r = α/√r.
        if usesRSLoRA { alpha *= Double(rank).squareRoot() }
        for key in ["rank_pattern", "alpha_pattern"] {
            if let value = json[key], !value.isNull, !(value.objectValue?.isEmpty ?? false) {
                throw AdapterError.unsupported(path: configPath, key: key, value: value.serialized(), reason: "one rank and α for every module")
            }
        }
        for key in ["layers_to_transform", "modules_to_save"] {
            if let value = json[key], !value.isNull, !(value.arrayValue?.isEmpty ?? false) {
                throw AdapterError.unsupported(path: configPath, key: key, value: value.serialized(), reason: "the adapter must cover every block and save no other modules")
            }
        }
        let targets = try targetRoles(json["target_modules"], path: configPath)

        var trainsNorms = false
        var maskSource = "default (unmasked, as peft applies it)"
        var isMasked = false
        let dlpURL = directory.appendingPathComponent(dlpFileName)
        if FileManager.default.fileExists(atPath: dlpURL.path) {
            let dlp = try readJSON(dlpURL)
            guard let m = dlp["masked"]?.boolValue else {
                throw AdapterError.invalidConfig(path: dlpURL.path, key: "masked", found: dlp["masked"].map { $0.serialized() } ?? "missing", expected: "true or false")
            }
            isMasked = m
            maskSource = dlpFileName
            trainsNorms = dlp["trains_norm_gains"]?.boolValue ?? false
        }
        if let masked {
            isMasked = masked
            maskSource = "the caller (\(masked ? "masked" : "unmasked"))"
        }
        let lora = LoRAConfiguration(rank: rank, alpha: alpha, dropout: dropout, targets: targets, masked: isMasked,
                                     trainsNormGains: trainsNorms)
        var parameters = TrainableParameters<Float>(configuration: c, lora: lora)

        let weightsURL = directory.appendingPathComponent(weightsFileName)
        let file = try openSafetensors(weightsURL)
        var expected = Set<String>()
        for block in 0..<c.layerCount {
            for role in targets {
                for (matrix, kind) in [("lora_A", ParameterKind.loraA(block: block, role: role)), ("lora_B", .loraB(block: block, role: role))] {
                    let name = key(block: block, role: role, matrix: matrix)
                    expected.insert(name)
                    let entry = parameters.entry(kind)
                    var values = try tensor(file, name, shape: [entry.rows, entry.columns])
                    if matrix == "lora_B", let heads = permutedHeads(role, c, convention) {
                        values = QKRowPermutation.toGGUF(values, heads: heads, columns: entry.columns)
                    }
                    parameters.values.replaceSubrange(entry.range, with: values)
                }
            }
        }
        if let extra = file.entries.map(\.name).sorted().first(where: { !expected.contains($0) }) {
            throw AdapterError.unexpectedTensor(path: weightsURL.path, key: extra)
        }
        if trainsNorms {
            let normsURL = directory.appendingPathComponent(normGainsFileName)
            let norms = try openSafetensors(normsURL)
            var names = Set<String>()
            for entry in parameters.entries {
                guard let name = normName(entry.kind) else { continue }
                names.insert(name)
                parameters.values.replaceSubrange(entry.range, with: try tensor(norms, name, shape: [entry.columns]))
            }
            if let extra = norms.entries.map(\.name).sorted().first(where: { !names.contains($0) }) {
                throw AdapterError.unexpectedTensor(path: normsURL.path, key: extra)
            }
        }
        return Loaded(parameters: parameters, baseModel: json["base_model_name_or_path"]?.stringValue, maskSource: maskSource,
                      usesRSLoRA: usesRSLoRA)
    }

    /// The query or key-value head count when `role`'s rows are GGUF-permuted, else nil.
    static func permutedHeads(_ role: TensorRole, _ c: ModelConfiguration, _ convention: RotaryConvention) -> Int? {
        guard convention == .interleaved else { return nil }
        switch role {
        case .query: return c.headCount
        case .key: return c.keyValueHeadCount
        default: return nil
        }
    }

    /// The Hugging Face name of a trainable norm gain, nil for a LoRA matrix.
    static func normName(_ kind: ParameterKind) -> String? {
        switch kind {
        case .attentionNormGain(let block): return TensorRole.attentionNorm.huggingFaceName(block: block)
        case .feedForwardNormGain(let block): return TensorRole.feedForwardNorm.huggingFaceName(block: block)
        case .finalNormGain: return TensorRole.outputNorm.huggingFaceName()
        case .loraA, .loraB: return nil
        }
    }

    /// `target_modules`: a list of module names (`q_proj`, or a dotted path ending in one) or
    /// the string `"all-linear"`; peft's regex form is refused.
    static func targetRoles(_ value: JSONValue?, path: String) throws -> [TensorRole] {
        let byName = Dictionary(uniqueKeysWithValues: TensorRole.linears.map { (moduleName($0), $0) })
        let valid = TensorRole.linears.map(moduleName).joined(separator: ", ")
        if let text = value?.stringValue {
            if text == "all-linear" { return TensorRole.linears }
            if let role = byName[text] { return [role] }
            throw AdapterError.unsupported(path: path, key: "target_modules", value: "\"\(text)\"",
                                           reason: "a regular expression; list the modules instead (\(valid))")
        }
        guard let list = value?.arrayValue, !list.isEmpty else {
            throw AdapterError.invalidConfig(path: path, key: "target_modules", found: value.map { $0.serialized() } ?? "missing",
                                             expected: "a non-empty list of \(valid)")
        }
        var roles = [TensorRole]()
        for item in list {
            guard let name = item.stringValue, let role = byName[String(name.split(separator: ".").last ?? "")] else {
                throw AdapterError.unsupported(path: path, key: "target_modules", value: item.serialized(),
                                               reason: "only the block linears \(valid) can carry an adapter here")
            }
            if !roles.contains(role) { roles.append(role) }
        }
        return roles
    }

    static func readJSON(_ url: URL) throws -> JSONValue {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw AdapterError.unreadable(path: url.path, reason: "no such file or not readable; an adapter directory holds \(configFileName) and \(weightsFileName)")
        }
        do {
            let value = try JSONValue.parse([UInt8](data))
            guard value.objectValue != nil else { throw AdapterError.unreadable(path: url.path, reason: "not a JSON object") }
            return value
        } catch let error as JSONParseError {
            throw AdapterError.unreadable(path: url.path, reason: "not JSON (\(error))")
        }
    }

    static func openSafetensors(_ url: URL) throws -> SafetensorsFile {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw AdapterError.unreadable(path: url.path, reason: "no such file")
        }
        do { return try SafetensorsFile(url: url) } catch {
            throw AdapterError.unreadable(path: url.path, reason: "not a valid safetensors file (\(error))")
        }
    }

    /// Tensor `name` of `file` as Float, checked for shape, type and finiteness.
    static func tensor(_ file: SafetensorsFile, _ name: String, shape: [Int]) throws -> [Float] {
        guard let entry = file.entry(name) else { throw AdapterError.missingTensor(path: file.url.path, key: name) }
        guard entry.shape == shape else { throw AdapterError.wrongShape(path: file.url.path, key: name, expected: shape, actual: entry.shape) }
        guard [.f32, .f16, .bf16].contains(entry.dtype) else {
            throw AdapterError.wrongType(path: file.url.path, key: name, dtype: entry.dtype.rawValue)
        }
        let values = try file.floats(name)
        guard values.allSatisfy(\.isFinite) else { throw AdapterError.nonFinite(path: file.url.path, key: name) }
        return values
    }
}
