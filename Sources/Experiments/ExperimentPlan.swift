import Foundation
import Pruning
import TensorCore
import Transformer

/// A declarative experiment: models × pruners × allocations × sparsities × patterns, one
/// calibration protocol, and the evaluations each cell gets. Read from a small JSON file:
///
/// ```json
/// {
///   "name": "smollm2-core",
///   "description": "…",
///   "calibration": {"source": "c4", "sampling": "stream", "samples": 32, "seqlen": 512, "seed": 0},
///   "datasets": {"wikitext2": "../../shared/data/wikitext-2-raw/wiki.test.raw", "ptb": "", "c4": ""},
///   "perplexity": {"seqlen": 2048, "max_windows": 16},
///   "zeroshot": {"tasks": "all", "limit": 200},
///   "dense": {"perplexity": ["wikitext2"], "zeroshot": true},
///   "grids": [{"models": ["smollm2-135m"], "methods": ["wanda"], "allocations": ["uniform", "dlp"],
///              "sparsities": [0.6, 0.7], "perplexity": ["wikitext2"], "zeroshot": false}]
/// }
/// ```
///
/// A grid's cells are the cross product of its lists; a cell named by several grids is run once
/// with the union of their evaluations. A grid's `"recovery"` (token budgets × masked × targets ×
/// learning rates, see ``Recovery``) fine-tunes each of its cells with LoRA and evaluates each
/// result as the cell; the plan's `"recovery"` object holds the settings they share
/// (``RecoverySettings``). Dataset paths are relative to the plan file; an empty
/// path means the copy `scripts/assets.py` fetched (PTB, C4).
public struct ExperimentPlan: Sendable, Equatable {
    /// Names the results directory; letters, digits, `-`, `_`, `.`.
    public var name: String
    public var description: String
    /// How calibration windows are drawn; `"source": "c4"` is the fetched excerpt.
    public var calibration: CalibrationSettings
    /// Perplexity datasets by name, as `dlp perplexity --dataset` specs (`wikitext2:PATH`, `ptb`, ...).
    public var datasets: [String: String]
    public var perplexity: PerplexitySpec
    public var zeroshot: ZeroShotSpec
    /// Evaluations of the unpruned model of every model the grids name.
    public var dense: Evaluations
    /// Types the unpruned models are also converted to (block linears by round-to-nearest, as
    /// `dlp convert MODEL --formats gguf --gguf-dtype T`), each evaluated like `dense`.
    public var denseWeights: [DType]
    /// What every LoRA recovery of the plan shares (a grid's `recovery` lists vary the rest).
    public var recovery: RecoverySettings
    public var grids: [Grid]

    /// Window length and window limit of every perplexity evaluation.
    public struct PerplexitySpec: Sendable, Equatable, Codable {
        public var seqlen: Int = 2048
        /// Score only the first N windows of each dataset (nil: the whole protocol).
        public var maxWindows: Int?

        public init(seqlen: Int = 2048, maxWindows: Int? = nil) {
            self.seqlen = seqlen
            self.maxWindows = maxWindows
        }

        enum CodingKeys: String, CodingKey {
            case seqlen
            case maxWindows = "max_windows"
        }
    }

    /// Which zero-shot tasks (`all`, `everything` or a comma list) and how many questions each.
    public struct ZeroShotSpec: Sendable, Equatable, Codable {
        public var tasks: String = "all"
        public var limit: Int?

        public init(tasks: String = "all", limit: Int? = nil) {
            self.tasks = tasks
            self.limit = limit
        }
    }

    /// What a cell is evaluated on: perplexity dataset names and whether zero-shot runs.
    public struct Evaluations: Sendable, Equatable, Codable {
        public var perplexity: [String] = []
        public var zeroshot: Bool = false

        public init(perplexity: [String] = [], zeroshot: Bool = false) {
            self.perplexity = perplexity
            self.zeroshot = zeroshot
        }

        /// Both sets of evaluations.
        public func union(_ other: Evaluations) -> Evaluations {
            Evaluations(perplexity: perplexity + other.perplexity.filter { !perplexity.contains($0) },
                        zeroshot: zeroshot || other.zeroshot)
        }
    }

    /// One cross product.
    public struct Grid: Sendable, Equatable {
        public var models: [String]
        public var methods: [PruningMethod]
        public var allocations: [Allocation]
        /// Target sparsities of unstructured cells.
        public var sparsities: [Double]
        /// Patterns: `unstructured` takes each sparsity; an N:M pattern its own fraction.
        public var patterns: [SparsityPattern]
        /// How each cell's linears are stored (default: the prune's F32 export only).
        public var weights: [WeightFormat] = [.standard]
        public var evaluations: Evaluations
        /// LoRA recoveries of each (F32) cell, each evaluated as the cell is.
        public var recoveries: [Recovery] = []
    }

    public init(name: String, description: String, calibration: CalibrationSettings, datasets: [String: String],
                perplexity: PerplexitySpec, zeroshot: ZeroShotSpec, dense: Evaluations, denseWeights: [DType] = [],
                recovery: RecoverySettings = RecoverySettings(), grids: [Grid]) {
        self.name = name
        self.description = description
        self.calibration = calibration
        self.datasets = datasets
        self.perplexity = perplexity
        self.zeroshot = zeroshot
        self.dense = dense
        self.denseWeights = denseWeights
        self.recovery = recovery
        self.grids = grids
    }

    /// Most cells a plan may name (before duplicates are merged); each is a pruning run, so a plan
    /// past this is a mistake, and the limit keeps a small hostile file from expanding into billions.
    public static let maximumCells = 10_000

    /// Every cell of every grid, in plan order, duplicates merged (their evaluations united).
    public var cells: [ExperimentCell] {
        var order = [String]()
        var byKey = [String: ExperimentCell]()
        for grid in grids {
            for model in grid.models {
                for method in grid.methods {
                    for allocation in grid.allocations {
                        for pattern in grid.patterns {
                            let targets = pattern.impliedRatio.map { [$0] } ?? grid.sparsities
                            for target in targets {
                                for weights in grid.weights {
                                    let cell = ExperimentCell(model: model, method: method, allocation: allocation, target: target,
                                                              pattern: pattern, weights: weights, evaluations: grid.evaluations,
                                                              recoveries: grid.recoveries)
                                    let key = "\(model)/\(cell.id)"
                                    if let existing = byKey[key] {
                                        byKey[key]?.evaluations = existing.evaluations.union(grid.evaluations)
                                        byKey[key]?.recoveries = orderedUnique(existing.recoveries + grid.recoveries)
                                    } else {
                                        byKey[key] = cell
                                        order.append(key)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return order.compactMap { byKey[$0] }
    }

    /// Folder of the unpruned model converted to `type`: `dense-q4_0`.
    public static func denseFolder(_ type: DType) -> String { "dense-\(type.rawValue.lowercased())" }

    /// The models the grids name, in order of first appearance.
    public var models: [String] {
        var seen = [String]()
        for grid in grids { for m in grid.models where !seen.contains(m) { seen.append(m) } }
        return seen
    }
}

extension CalibrationSettings {
    /// The settings a plan gets when it names none: the fetched C4 excerpt, stream sampling,
    /// 128 windows of 2048 tokens, seed 0.
    public static func planDefault(home: URL = ModelReference.home()) -> CalibrationSettings {
        CalibrationSettings(source: .fetchedC4(home: home), sampling: .stream, samples: 128, sequenceLength: 2048, seed: 0)
    }

    /// A short label, e.g. `c4 stream 128×2048 seed 0`.
    public var label: String { "\(source.name) \(sampling.rawValue) \(samples)×\(sequenceLength) seed \(seed)" }
}
