import Evaluation
import Foundation
import Kernels
import Pruning
import Sparse
import TensorCore
import Transformer

/// The main job: prune a model with a layerwise allocation and a pruner, optionally measure
/// perplexity before and after, export the pruned model and write its manifest, report and chart
/// into `output` atomically. The CLI's `dlp prune` and the experiment runner both build one of
/// these; ``run(observer:)`` does the work. Codable, so a job can be handed to a child process as
/// a JSON file (`dlp job FILE`).
public struct PruneJob: Sendable, Codable, Equatable {
    /// What to export: the formats, the element type of pruned linears in the GGUF, and the value
    /// type of the non-zeros in `sparse/`.
    public struct Exports: Sendable, Codable, Equatable {
        public var formats: [ExportFormat]
        public var ggufType: DType
        public var sparseType: WeightType

        public init(formats: [ExportFormat] = ExportFormat.defaults, ggufType: DType = .f32, sparseType: WeightType = .bf16) {
            self.formats = formats
            self.ggufType = ggufType
            self.sparseType = sparseType
        }

        enum CodingKeys: String, CodingKey { case formats, ggufType, sparseType }

        /// Job files written before the sparse export have no `sparseType`: bf16.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            formats = try c.decode([ExportFormat].self, forKey: .formats)
            ggufType = try c.decode(DType.self, forKey: .ggufType)
            sparseType = try c.decodeIfPresent(WeightType.self, forKey: .sparseType) ?? .bf16
        }
    }

    /// An export format of `dlp prune` (and `dlp convert`).
    public enum ExportFormat: String, Sendable, Codable, CaseIterable {
        /// `model.gguf`: the input's tensor names and metadata (needs a GGUF input).
        case gguf
        /// `hf/`: config.json, model.safetensors and the tokenizer files for transformers.
        case safetensors
        /// `sparse/`: the same as `hf/` with the block linears in the compressed-tensors
        /// sparse-bitmask layout (``SparseExport``); `dlp` and compressed-tensors 0.14 read it.
        case sparse

        /// What `dlp prune` writes when not told: gguf and safetensors.
        public static let defaults: [ExportFormat] = [.gguf, .safetensors]

        /// The folder or file it writes in an output directory.
        public var outputName: String {
            switch self {
            case .gguf: return "model.gguf"
            case .safetensors: return "hf"
            case .sparse: return SparseExport.folderName
            }
        }

        /// Parses `gguf,safetensors,sparse` (comma-separated), listing the valid names.
        public static func parseList(_ text: String) throws -> [ExportFormat] {
            try text.split(separator: ",").map { part in
                guard let format = ExportFormat(rawValue: part.trimmingCharacters(in: .whitespaces).lowercased()) else {
                    throw JobError.invalidSetting(setting: "formats", reason: "unknown format '\(part)'; valid: \(allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return format
            }
        }
    }

    /// Element types `--gguf-dtype` accepts for pruned linears: those in which a zero stays
    /// exactly zero, so the mask survives (``TensorIO/DType/encodable``).
    public static let ggufTypes: [DType] = [.f32, .f16, .bf16, .q8_0, .q6_K, .q5_0, .q4_0]

    /// GGUF types that add a per-block offset (value = d·q + m, or d·sc·q − dmin·m) or use a
    /// codebook without 0, so a pruned weight no longer decodes to 0: refused by `--gguf-dtype`.
    public static let zeroLosingGGUFTypes = ["q4_1", "q5_1", "q2_k", "q4_k", "q5_k", "iq4_nl", "iq4_xs"]

    /// Parses a `--gguf-dtype` value (case-insensitive): one of ``ggufTypes``. A type that does not
    /// keep zeros is refused with the reason and the list of types that do.
    public static func parseGGUFType(_ text: String) throws -> DType {
        let name = text.lowercased()
        let valid = ggufTypes.map { $0.rawValue.lowercased() }.joined(separator: ", ")
        if let type = DType(rawValue: name.uppercased()), ggufTypes.contains(type) {
            return type
        }
        if zeroLosingGGUFTypes.contains(name) {
            throw JobError.invalidSetting(setting: "gguf-dtype", reason: "\(name) does not keep pruned weights at exactly zero (its blocks add an offset or use a codebook without 0, so the mask would be lost); types that keep zeros: \(valid)")
        }
        throw JobError.invalidSetting(setting: "gguf-dtype", reason: "unknown type '\(text)'; valid: \(valid)")
    }

    /// A GGUF file, a safetensors directory, a prune output directory or a fetched model's short name.
    public var model: String
    public var method: PruningMethod
    public var allocation: Allocation
    /// Target fraction of zeros in the block linears (an N:M pattern's own fraction).
    public var target: Double
    public var pattern: SparsityPattern
    /// `--quantize`: quantize the kept weights jointly with pruning on this GGUF block type's grid
    /// (``JointQuantization``); `exports.ggufType` must then be the same type. nil: no joint
    /// quantization (job files written before it existed decode as nil).
    public var quantization: JointQuantization?
    public var calibration: CalibrationSettings
    /// CPU threads; nil: all available.
    public var threads: Int?
    /// The products' number format of every forward pass (nil: f32; job files written before it
    /// decode as nil).
    public var precision: ComputePrecision?
    /// Read cached allocation ratios (false: always run the allocation pass).
    public var reuseCachedAllocation: Bool
    /// Perplexity before and after pruning.
    public var evaluations: [PerplexityDataset]
    public var evaluationSequenceLength: Int
    /// Evaluate only the first N windows (nil: all).
    public var evaluationWindows: Int?
    public var exports: Exports
    /// The output directory.
    public var output: String
    /// Replace `output` if it exists.
    public var replaceExisting: Bool
    /// The command that asked for the job, recorded in the manifest (empty: this process's arguments).
    public var command: [String]

    public init(model: String, method: PruningMethod = .wanda, allocation: Allocation, target: Double = 0.7,
                pattern: SparsityPattern = .unstructured, quantization: JointQuantization? = nil,
                calibration: CalibrationSettings, threads: Int? = nil,
                reuseCachedAllocation: Bool = true, evaluations: [PerplexityDataset] = [], evaluationSequenceLength: Int = 2048,
                evaluationWindows: Int? = nil, exports: Exports = Exports(), output: String, replaceExisting: Bool = false,
                command: [String] = [], precision: ComputePrecision? = nil) {
        self.precision = precision
        self.model = model
        self.method = method
        self.allocation = allocation
        self.target = target
        self.pattern = pattern
        self.quantization = quantization
        self.calibration = calibration
        self.threads = threads
        self.reuseCachedAllocation = reuseCachedAllocation
        self.evaluations = evaluations
        self.evaluationSequenceLength = evaluationSequenceLength
        self.evaluationWindows = evaluationWindows
        self.exports = exports
        self.output = output
        self.replaceExisting = replaceExisting
        self.command = command
    }

    public var computeThreads: ComputeThreads { threads.map(ComputeThreads.init) ?? .allAvailable }

    public var outputURL: URL { URL(fileURLWithPath: output).standardizedFileURL }

    /// Checks every setting and file the job needs before anything is loaded, and creates the
    /// output's parent directory if missing. Throws ``JobError/invalidSetting(setting:reason:)``.
    public func validate() throws {
        func fail(_ setting: String, _ reason: String) -> JobError { .invalidSetting(setting: setting, reason: reason) }
        guard target > 0, target < 1 else { throw fail("sparsity", "\(target) is not in (0, 1)") }
        if let implied = pattern.impliedRatio, abs(implied - target) > 1e-9 {
            throw fail("sparsity", "\(target) disagrees with pattern \(pattern) (which prunes \(implied)); give one of them")
        }
        if let threads, threads < 1 { throw fail("threads", "expected a positive integer") }
        if let reason = precision?.unsupportedReason { throw fail("precision", reason) }
        try Self.validate(calibration)
        guard evaluationSequenceLength >= 2 else { throw fail("eval-seqlen", "must be at least 2") }
        if let evaluationWindows, evaluationWindows < 1 { throw fail("eval-windows", "expected a positive integer") }
        let fm = FileManager.default
        for dataset in evaluations where !fm.isReadableFile(atPath: dataset.url.path) {
            throw fail("evaluate \(dataset.name)", "cannot read \(dataset.url.path)")
        }
        guard !exports.formats.isEmpty else {
            throw fail("formats", "name at least one of \(ExportFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard Self.ggufTypes.contains(exports.ggufType) else {
            _ = try Self.parseGGUFType(exports.ggufType.rawValue)
            throw fail("gguf-dtype", "\(exports.ggufType.rawValue.lowercased()) is not supported for pruned linears")
        }
        if let quantization, exports.ggufType != quantization.dtype {
            throw fail("gguf-dtype", "\(exports.ggufType.rawValue.lowercased()) conflicts with --quantize \(quantization.rawValue), which stores the pruned linears as \(quantization.rawValue); leave out --gguf-dtype or give \(quantization.rawValue)")
        }
        let url = outputURL
        if fm.fileExists(atPath: url.path), !replaceExisting {
            throw fail("output", "\(output) exists; choose another directory or pass --force to replace it")
        }
        let parent = url.deletingLastPathComponent()
        if !fm.fileExists(atPath: parent.path) {
            do { try fm.createDirectory(at: parent, withIntermediateDirectories: true) } catch {
                throw fail("output", "\(output): cannot create the parent directory \(parent.path): \(error.localizedDescription)")
            }
        }
        guard fm.isWritableFile(atPath: parent.path) else {
            throw fail("output", "\(output): the parent directory \(parent.path) is not writable")
        }
    }

    /// Joint quantization needs every block linear's input size to be a whole number of 32-weight
    /// blocks; checked once the model's configuration is known, before calibration.
    public static func validate(_ quantization: JointQuantization?, _ configuration: ModelConfiguration) throws {
        guard let quantization else { return }
        for role in TensorRole.linears {
            let columns = role.shape(configuration)[1]
            if columns % JointQuantization.groupSize != 0 {
                throw JobError.invalidSetting(setting: "quantize", reason: "\(role.rawValue) has \(columns) inputs, not a multiple of \(quantization.rawValue)'s 32-weight block; leave out --quantize for this model")
            }
        }
    }

    /// Checks calibration settings and that their source is readable.
    public static func validate(_ calibration: CalibrationSettings) throws {
        func fail(_ setting: String, _ reason: String) -> JobError { .invalidSetting(setting: setting, reason: reason) }
        guard calibration.samples >= 1 else { throw fail("samples", "expected a positive integer") }
        guard calibration.sequenceLength >= 2 else { throw fail("seqlen", "must be at least 2") }
        guard FileManager.default.isReadableFile(atPath: calibration.source.path) else {
            throw fail("calibration", "cannot read \(calibration.source.path)"
                       + (calibration.source.name == "c4" ? "; fetch it with `make assets`" : ""))
        }
    }
}
