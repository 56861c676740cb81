import Foundation
import Kernels
import Sparse
import TensorCore
import Transformer

/// Everything that produced a pruned model, written as `manifest.json` next to it: the input's
/// identity, every setting, the calibration's identity, per-block ratios and measured
/// sparsities, timings and the files written.
public struct PruningManifest: Sendable, Codable {
    public struct Model: Sendable, Codable {
        public var path: String
        public var format: CheckpointFormat
        public var sha256: String
        public var architecture: Architecture
        public var layerCount: Int
        public var prunableParameters: Int

        public init(path: String, format: CheckpointFormat, sha256: String, architecture: Architecture, layerCount: Int,
                    prunableParameters: Int) {
            self.path = path
            self.format = format
            self.sha256 = sha256
            self.architecture = architecture
            self.layerCount = layerCount
            self.prunableParameters = prunableParameters
        }
    }

    /// What was asked for. On disk the allocation is two fields, `allocation` (its name) and
    /// `allocationParameters` (canonical text by key), as manifests have always held it.
    public struct Settings: Sendable, Codable, Equatable {
        public var method: PruningMethod
        public var allocation: Allocation
        public var targetSparsity: Double
        public var pattern: SparsityPattern
        public var threads: Int
        /// `--quantize`: the grid the kept weights were quantized on jointly with pruning; nil
        /// when they were not (and in manifests written before joint quantization existed).
        public var quantization: JointQuantization?
        /// The products' number format of the calibration passes (nil in manifests written before
        /// it was recorded: f32).
        public var precision: ComputePrecision?

        public init(method: PruningMethod, allocation: Allocation, targetSparsity: Double, pattern: SparsityPattern, threads: Int,
                    quantization: JointQuantization? = nil, precision: ComputePrecision? = nil) {
            self.precision = precision
            self.method = method
            self.allocation = allocation
            self.targetSparsity = targetSparsity
            self.pattern = pattern
            self.threads = threads
            self.quantization = quantization
        }

        enum CodingKeys: String, CodingKey {
            case method, allocation, allocationParameters, targetSparsity, pattern, threads, quantization, precision
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            method = try c.decode(PruningMethod.self, forKey: .method)
            let name = try c.decode(String.self, forKey: .allocation)
            let parameters = try c.decodeIfPresent([String: String].self, forKey: .allocationParameters) ?? [:]
            do { allocation = try Allocation(name: name, parameters: parameters) } catch let error as PruningError {
                throw DecodingError.dataCorruptedError(forKey: .allocation, in: c, debugDescription: error.description)
            }
            targetSparsity = try c.decode(Double.self, forKey: .targetSparsity)
            pattern = try c.decode(SparsityPattern.self, forKey: .pattern)
            threads = try c.decode(Int.self, forKey: .threads)
            quantization = try c.decodeIfPresent(JointQuantization.self, forKey: .quantization)
            precision = try c.decodeIfPresent(ComputePrecision.self, forKey: .precision)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(method, forKey: .method)
            try c.encode(allocation.name, forKey: .allocation)
            try c.encode(allocation.parameters, forKey: .allocationParameters)
            try c.encode(targetSparsity, forKey: .targetSparsity)
            try c.encode(pattern, forKey: .pattern)
            try c.encode(threads, forKey: .threads)
            try c.encodeIfPresent(quantization, forKey: .quantization)
            try c.encodeIfPresent(precision, forKey: .precision)
        }
    }

    public struct Calibration: Sendable, Codable {
        public var settings: CalibrationSettings
        public var sourceSHA256: String
        public var windowsSHA256: String

        public init(settings: CalibrationSettings, sourceSHA256: String, windowsSHA256: String) {
            self.settings = settings
            self.sourceSHA256 = sourceSHA256
            self.windowsSHA256 = windowsSHA256
        }
    }

    /// One weight matrix after pruning.
    public struct MatrixOutcome: Sendable, Codable {
        public var role: String
        /// Zeros of the written weights; with joint quantization, of the pruning mask.
        public var zeros: Int
        public var count: Int
        public var sparsity: Double
        /// Joint quantization only: zeros of the written weights, the mask's plus the kept weights
        /// that quantized to 0 (and dead inputs); nil otherwise.
        public var storedZeros: Int?

        public init(role: String, zeros: Int, count: Int, sparsity: Double, storedZeros: Int? = nil) {
            self.role = role
            self.zeros = zeros
            self.count = count
            self.sparsity = sparsity
            self.storedZeros = storedZeros
        }
    }

    /// One block after pruning.
    public struct BlockOutcome: Sendable, Codable {
        public var block: Int
        /// The allocation's ratio for this block.
        public var requestedRatio: Double
        /// Zeros over the block's seven linears, measured on the written weights (with joint
        /// quantization: on the pruning mask; ``MatrixOutcome/storedZeros`` has the written zeros).
        public var measuredSparsity: Double
        public var matrices: [MatrixOutcome]
        /// Statistic the allocation ranked blocks by (DLP: the block's unimportance `S_l`).
        public var statistic: Double?
        /// Notes such as raised SparseGPT damping.
        public var notes: [String]
        /// Where the block's time went in the allocation pass; nil when the ratios came from the
        /// cache or need no pass (and in manifests written before block timings were recorded).
        public var allocationSeconds: PruningPipeline.BlockSeconds?
        /// Where the block's time went in the pruning pass; nil in manifests written before block
        /// timings were recorded.
        public var pruningSeconds: PruningPipeline.BlockSeconds?

        public init(block: Int, requestedRatio: Double, measuredSparsity: Double, matrices: [MatrixOutcome], statistic: Double?, notes: [String],
                    allocationSeconds: PruningPipeline.BlockSeconds? = nil, pruningSeconds: PruningPipeline.BlockSeconds? = nil) {
            self.block = block
            self.requestedRatio = requestedRatio
            self.measuredSparsity = measuredSparsity
            self.matrices = matrices
            self.statistic = statistic
            self.notes = notes
            self.allocationSeconds = allocationSeconds
            self.pruningSeconds = pruningSeconds
        }
    }

    public struct Evaluation: Sendable, Codable {
        public var dataset: String
        public var protocolDescription: String
        public var sequenceLength: Int
        public var windows: Int
        public var densePerplexity: Double?
        public var prunedPerplexity: Double

        public init(dataset: String, protocolDescription: String, sequenceLength: Int, windows: Int, densePerplexity: Double?, prunedPerplexity: Double) {
            self.dataset = dataset
            self.protocolDescription = protocolDescription
            self.sequenceLength = sequenceLength
            self.windows = windows
            self.densePerplexity = densePerplexity
            self.prunedPerplexity = prunedPerplexity
        }
    }

    public struct Output: Sendable, Codable {
        public var file: String
        public var bytes: Int

        public init(file: String, bytes: Int) {
            self.file = file
            self.bytes = bytes
        }
    }

    public var tool: String
    public var createdAt: String
    public var command: [String]
    public var model: Model
    public var settings: Settings
    public var calibration: Calibration
    /// Whether the per-block ratios came from the allocation cache, and its key.
    public var allocationCacheHit: Bool
    public var allocationCacheKey: String?
    public var blocks: [BlockOutcome]
    public var overallSparsity: Double
    /// Joint quantization only: the fraction of the block linears' written weights that are 0
    /// (≥ ``overallSparsity``, the mask's); nil otherwise.
    public var storedSparsity: Double?
    public var evaluation: [Evaluation]
    /// Seconds per stage (`calibration`, `allocation pass`, `pruning pass`, `export`, ...).
    public var timings: [String: Double]
    public var peakResidentBytes: Int
    /// The peak memory estimated before the run (``MemoryEstimate``), to compare with
    /// ``peakResidentBytes``; nil in manifests written before it was recorded.
    public var memoryEstimate: MemoryEstimate?
    public var outputs: [Output]
    /// The value type of the non-zeros in `sparse/`; nil when no sparse export was written (and in
    /// manifests written before the sparse export existed).
    public var sparseValueType: WeightType?
    /// How `model.gguf` stores the pruned block linears; nil when no GGUF was written (and in
    /// manifests written before quantized GGUF exports existed, which stored them as F32 or F16).
    public var ggufLinears: GGUFLinears?

    /// The element type of the pruned block linears in `model.gguf` (`--gguf-dtype`), and the
    /// linears stored in another type because their row length is not a multiple of its block
    /// (llama.cpp's fallback: Q6_K → Q8_0 → F16, Q8_0/Q4_0/Q5_0 → F16), by GGUF tensor name.
    public struct GGUFLinears: Sendable, Codable, Equatable {
        public var type: DType
        public var fallbacks: [String: DType]

        public init(type: DType, fallbacks: [String: DType] = [:]) {
            self.type = type
            self.fallbacks = fallbacks
        }
    }

    public init(tool: String, createdAt: String, command: [String], model: Model, settings: Settings, calibration: Calibration, allocationCacheHit: Bool, allocationCacheKey: String?, blocks: [BlockOutcome], overallSparsity: Double, evaluation: [Evaluation], timings: [String: Double], peakResidentBytes: Int, outputs: [Output], sparseValueType: WeightType? = nil, ggufLinears: GGUFLinears? = nil, storedSparsity: Double? = nil, memoryEstimate: MemoryEstimate? = nil) {
        self.tool = tool
        self.createdAt = createdAt
        self.command = command
        self.model = model
        self.settings = settings
        self.calibration = calibration
        self.allocationCacheHit = allocationCacheHit
        self.allocationCacheKey = allocationCacheKey
        self.blocks = blocks
        self.overallSparsity = overallSparsity
        self.evaluation = evaluation
        self.timings = timings
        self.peakResidentBytes = peakResidentBytes
        self.outputs = outputs
        self.sparseValueType = sparseValueType
        self.ggufLinears = ggufLinears
        self.storedSparsity = storedSparsity
        self.memoryEstimate = memoryEstimate
    }

    /// Seconds per block, averaged over the blocks that recorded them: the allocation pass's and
    /// the pruning pass's, part by part; nil for a pass no block recorded.
    public var meanBlockSeconds: (allocation: PruningPipeline.BlockSeconds?, pruning: PruningPipeline.BlockSeconds?) {
        func mean(_ all: [PruningPipeline.BlockSeconds]) -> PruningPipeline.BlockSeconds? {
            guard !all.isEmpty else { return nil }
            let sum = all.reduce(PruningPipeline.BlockSeconds(), +), n = Double(all.count)
            return PruningPipeline.BlockSeconds(decode: sum.decode / n, forward: sum.forward / n, observers: sum.observers / n,
                                                scoring: sum.scoring / n, store: sum.store / n)
        }
        return (mean(blocks.compactMap(\.allocationSeconds)), mean(blocks.compactMap(\.pruningSeconds)))
    }
}
