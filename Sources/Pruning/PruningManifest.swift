import Foundation

/// Everything that produced a pruned model, written as `manifest.json` next to it: the input's
/// identity, every setting, the calibration's identity, per-block ratios and measured
/// sparsities, timings and the files written.
public struct PruningManifest: Sendable, Codable {
    public struct Model: Sendable, Codable {
        public var path: String
        public var format: String
        public var sha256: String
        public var architecture: String
        public var layerCount: Int
        public var prunableParameters: Int
    }

    public struct Settings: Sendable, Codable {
        public var method: String
        public var allocation: String
        /// Allocation parameters by name (`alpha`, `statistic`, `M`, `lambda`).
        public var allocationParameters: [String: String]
        public var targetSparsity: Double
        public var pattern: String
        public var threads: Int
    }

    public struct Calibration: Sendable, Codable {
        public var settings: CalibrationSettings
        public var sourceSHA256: String
        public var windowsSHA256: String
    }

    /// One weight matrix after pruning.
    public struct MatrixOutcome: Sendable, Codable {
        public var role: String
        public var zeros: Int
        public var count: Int
        public var sparsity: Double
    }

    /// One block after pruning.
    public struct BlockOutcome: Sendable, Codable {
        public var block: Int
        /// The allocation's ratio for this block.
        public var requestedRatio: Double
        /// Zeros over the block's seven linears, measured on the written weights.
        public var measuredSparsity: Double
        public var matrices: [MatrixOutcome]
        /// Statistic the allocation ranked blocks by (DLP: the block's unimportance `S_l`).
        public var statistic: Double?
        /// Notes such as raised SparseGPT damping.
        public var notes: [String]
    }

    public struct Evaluation: Sendable, Codable {
        public var dataset: String
        public var protocolDescription: String
        public var sequenceLength: Int
        public var windows: Int
        public var densePerplexity: Double?
        public var prunedPerplexity: Double
    }

    public struct Output: Sendable, Codable {
        public var file: String
        public var bytes: Int
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
    public var evaluation: [Evaluation]
    /// Seconds per stage (`calibration`, `allocation pass`, `pruning pass`, `export`, ...).
    public var timings: [String: Double]
    public var peakResidentBytes: Int
    public var outputs: [Output]
}
