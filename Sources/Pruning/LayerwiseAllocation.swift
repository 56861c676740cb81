/// A layerwise allocation: per-block sparsity ratios averaging the target `p` (DLP-METHOD §3–4).
/// One small type per allocation; the pruner does not know which one it walks (STYLE rule 7).
///
/// An allocation declares its name, its parameters and what it needs from the dense model;
/// everything else — the CLI flags and their help, the plan keys, the cell folder tag, the table
/// label, the manifest fields and the allocation cache key — is derived from that declaration by
/// ``Allocation``. Adding one is one file plus a line in ``Allocation/registry``.
public protocol LayerwiseAllocation: Sendable {
    /// The name users type (`--allocation NAME`, a plan's `"allocations"`) and manifests record.
    static var name: String { get }
    /// How tables and reports call it (`DLP`, `OWL`, `uniform`).
    static var title: String { get }
    /// One line for `--help`.
    static var summary: String { get }
    /// The parameters it takes, each with its default.
    static var parameters: [AllocationParameter] { get }
    /// The allocation with `values` (every declared parameter present, canonical text).
    init(values: AllocationValues) throws
    /// What the allocation needs from the dense model before it can allocate.
    var requirement: AllocationRequirement { get }
    /// Ratios `R_l ∈ [0, 1)`, one per block of `blocks`, with `mean(R) = target` (blocks are
    /// equal-sized). `statistics` has one entry per block when ``requirement`` asks for them,
    /// else it is empty.
    func ratios(_ statistics: [BlockScoreStatistics], blocks: Int, target: Double) throws -> [Double]
    /// The per-block value the allocation ranks blocks by, for reports (nil: none).
    func rankingStatistic(_ statistics: BlockScoreStatistics) -> Double?
}

extension LayerwiseAllocation {
    /// Ratios from one statistic per block.
    public func ratios(_ statistics: [BlockScoreStatistics], target: Double) throws -> [Double] {
        try ratios(statistics, blocks: statistics.count, target: target)
    }

    public func rankingStatistic(_ statistics: BlockScoreStatistics) -> Double? { nil }
}

/// What an allocation needs before it can allocate.
public enum AllocationRequirement: Sendable, Equatable {
    /// Nothing: the ratios follow from the target and the block count (uniform, a ramp).
    case nothing
    /// Per-block statistics of the pooled Wanda scores from an allocation pass over the dense
    /// model; `outlierThreshold` is the `M` the outlier ratio must be counted with, if it matters.
    case blockScores(outlierThreshold: Double?)

    /// Whether an allocation pass over the dense model is needed.
    public var needsAllocationPass: Bool { self != .nothing }
}

/// One parameter of an allocation, declared once; flags, plan keys, tags and labels come from it.
public struct AllocationParameter: Sendable, Equatable {
    /// What values it takes.
    public enum Kind: Sendable, Equatable {
        /// A finite number ≥ 0.
        case number
        /// One of the listed words.
        case choice([String])
    }

    /// Key in plans, manifests and cache keys (`alpha`, `statistic`, `M`, `lambda`).
    public var key: String
    /// The CLI flag (`--alpha`). Two allocations may share a flag only for the same key.
    public var flag: String
    /// Placeholder in `--help` (`α`, `S`).
    public var placeholder: String
    public var kind: Kind
    /// Default, as canonical text (see ``AllocationValues/canonical(_:kind:)``).
    public var defaultValue: String
    /// Prefix in cell folder names (`a` → `a0.15`); empty: the value alone.
    public var tag: String
    /// Prefix in table labels (`α=` → `α=0.15`); empty: the value alone.
    public var symbol: String
    /// Help text after the flag (`--help` prefixes the allocations that take it).
    public var help: String

    public init(key: String, flag: String, placeholder: String, kind: Kind, defaultValue: String, tag: String,
                symbol: String, help: String) {
        self.key = key
        self.flag = flag
        self.placeholder = placeholder
        self.kind = kind
        self.defaultValue = defaultValue
        self.tag = tag
        self.symbol = symbol
        self.help = help
    }
}

/// Parameter values of one allocation by key, in canonical text: numbers as Swift prints a
/// `Double` (`0.15`, `5.0`: the form manifests and cache keys have always held), choices lowercased.
public struct AllocationValues: Sendable, Equatable, Hashable {
    public private(set) var byKey: [String: String]

    public init(_ byKey: [String: String] = [:]) { self.byKey = byKey }

    public subscript(key: String) -> String? { byKey[key] }

    /// The number stored under `key` (declared as ``AllocationParameter/Kind/number``).
    public func number(_ key: String) throws -> Double {
        guard let text = byKey[key], let value = Double(text) else {
            throw PruningError.invalidSetting(name: key, value: byKey[key] ?? "(missing)", valid: "a finite number ≥ 0")
        }
        return value
    }

    /// The canonical text of `text` for a parameter of `kind`, or an error listing what is valid.
    public static func canonical(_ text: String, parameter: AllocationParameter) throws -> String {
        switch parameter.kind {
        case .number:
            guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite, value >= 0 else {
                throw PruningError.invalidSetting(name: parameter.key, value: text, valid: "a finite number ≥ 0")
            }
            return "\(value)"
        case .choice(let words):
            let lowered = text.lowercased()
            guard words.contains(lowered) else {
                throw PruningError.invalidSetting(name: parameter.key, value: text, valid: words.joined(separator: ", "))
            }
            return lowered
        }
    }
}
