import Foundation
import Pruning

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
/// with the union of their evaluations. Dataset paths are relative to the plan file; an empty
/// path means the copy `scripts/assets.py` fetched (PTB, C4).
public struct ExperimentPlan: Sendable, Equatable {
    /// Names the results directory; letters, digits, `-`, `_`, `.`.
    public var name: String
    public var description: String
    public var calibration: CalibrationSpec
    /// Perplexity datasets by name, as `dlp perplexity --dataset` specs (`wikitext2:PATH`, `ptb`, ...).
    public var datasets: [String: String]
    public var perplexity: PerplexitySpec
    public var zeroshot: ZeroShotSpec
    /// Evaluations of the unpruned model of every model the grids name.
    public var dense: Evaluations
    public var grids: [Grid]

    /// How calibration windows are drawn (the `dlp prune` calibration flags).
    public struct CalibrationSpec: Sendable, Equatable, Codable {
        public var source: String = "c4"
        public var sampling: String = "stream"
        public var samples: Int = 128
        public var seqlen: Int = 2048
        public var seed: UInt64 = 0

        public init(source: String = "c4", sampling: String = "stream", samples: Int = 128, seqlen: Int = 2048, seed: UInt64 = 0) {
            self.source = source
            self.sampling = sampling
            self.samples = samples
            self.seqlen = seqlen
            self.seed = seed
        }

        /// A short label, e.g. `c4 stream 128×2048 seed 0`.
        public var label: String { "\(source) \(sampling) \(samples)×\(seqlen) seed \(seed)" }
    }

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
        public var allocations: [AllocationSpec]
        /// Target sparsities of unstructured cells.
        public var sparsities: [Double]
        /// Patterns: `unstructured` takes each sparsity; an N:M pattern its own fraction.
        public var patterns: [SparsityPattern]
        public var evaluations: Evaluations
    }

    public init(name: String, description: String, calibration: CalibrationSpec, datasets: [String: String],
                perplexity: PerplexitySpec, zeroshot: ZeroShotSpec, dense: Evaluations, grids: [Grid]) {
        self.name = name
        self.description = description
        self.calibration = calibration
        self.datasets = datasets
        self.perplexity = perplexity
        self.zeroshot = zeroshot
        self.dense = dense
        self.grids = grids
    }

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
                                let cell = ExperimentCell(model: model, method: method, allocation: allocation,
                                                          target: target, pattern: pattern, evaluations: grid.evaluations)
                                let key = "\(model)/\(cell.id)"
                                if let existing = byKey[key] {
                                    byKey[key]?.evaluations = existing.evaluations.union(grid.evaluations)
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
        return order.compactMap { byKey[$0] }
    }

    /// The models the grids name, in order of first appearance.
    public var models: [String] {
        var seen = [String]()
        for grid in grids { for m in grid.models where !seen.contains(m) { seen.append(m) } }
        return seen
    }
}

/// A layerwise allocation with its parameters, as a plan names it: `"uniform"`, `"owl"`, `"dlp"`
/// (defaults α = 0.15, median; M = 5, λ = 0.08) or an object such as
/// `{"name": "dlp", "alpha": 0.1, "statistic": "mean"}`.
public struct AllocationSpec: Sendable, Equatable {
    public var choice: AllocationChoice

    public init(_ choice: AllocationChoice) { self.choice = choice }

    /// Identifier used in cell names: `uniform`, `owl-M5-l0.08`, `dlp-a0.15-median`.
    public var tag: String {
        switch choice {
        case .uniform: return "uniform"
        case let .owl(m, lambda): return "owl-M\(compactNumber(m))-l\(compactNumber(lambda))"
        case let .dlp(alpha, statistic): return "dlp-a\(compactNumber(alpha))-\(statistic.rawValue)"
        }
    }

    /// How tables label it: `uniform`, `OWL`, `DLP`, with non-default parameters spelled out.
    public var label: String {
        switch choice {
        case .uniform: return "uniform"
        case let .owl(m, lambda):
            return m == 5 && lambda == 0.08 ? "OWL" : "OWL (M=\(compactNumber(m)), λ=\(compactNumber(lambda)))"
        case let .dlp(alpha, statistic):
            return alpha == 0.15 && statistic == .median ? "DLP" : "DLP (α=\(compactNumber(alpha)), \(statistic.rawValue))"
        }
    }

    /// The `dlp prune` flags that select it.
    public var arguments: [String] {
        switch choice {
        case .uniform: return ["--allocation", "uniform"]
        case let .owl(m, lambda):
            return ["--allocation", "owl", "--owl-m", compactNumber(m), "--owl-lambda", compactNumber(lambda)]
        case let .dlp(alpha, statistic):
            return ["--allocation", "dlp", "--alpha", compactNumber(alpha), "--statistic", statistic.rawValue]
        }
    }
}

/// `0.15` → `"0.15"`, `5.0` → `"5"`, `72.5` → `"72.5"`: the shortest decimal that reads back the same.
public func compactNumber(_ x: Double) -> String {
    if x == x.rounded(), abs(x) < 1e15 { return String(Int(x)) }
    for digits in 1...17 {
        let text = String(format: "%.\(digits)g", x)
        if Double(text) == x { return text }
    }
    return "\(x)"
}
