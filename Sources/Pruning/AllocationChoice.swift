/// The layerwise allocation a run asked for, with its parameters: parsed once at the edge, named
/// in manifests and cache keys, and turned into a ``LayerwiseAllocation``.
public enum AllocationChoice: Sendable, Equatable {
    case uniform
    case dlp(alpha: Double, statistic: BlockStatistic)
    case owl(outlierThreshold: Double, lambda: Double)

    /// The names the CLI accepts.
    public static let names = ["uniform", "owl", "dlp"]

    /// The choice called `name` with the given parameters (those that do not apply are ignored).
    public static func parse(_ name: String, alpha: Double, statistic: BlockStatistic, outlierThreshold: Double,
                             lambda: Double) throws -> AllocationChoice {
        switch name.lowercased() {
        case "uniform": return .uniform
        case "dlp": return .dlp(alpha: alpha, statistic: statistic)
        case "owl": return .owl(outlierThreshold: outlierThreshold, lambda: lambda)
        default: throw PruningError.invalidSetting(name: "allocation", value: name, valid: names.joined(separator: ", "))
        }
    }

    public var name: String {
        switch self {
        case .uniform: return "uniform"
        case .dlp: return "dlp"
        case .owl: return "owl"
        }
    }

    /// Parameters by name, for manifests and cache keys.
    public var parameters: [String: String] {
        switch self {
        case .uniform: return [:]
        case let .dlp(alpha, statistic): return ["alpha": "\(alpha)", "statistic": statistic.rawValue]
        case let .owl(m, lambda): return ["M": "\(m)", "lambda": "\(lambda)"]
        }
    }

    /// Whether the allocation needs the dense allocation pass (block statistics).
    public var needsStatistics: Bool { self != .uniform }

    /// The OWL outlier threshold the statistics must be computed with (5 when OWL is not used).
    public var outlierThreshold: Double {
        if case let .owl(m, _) = self { return m }
        return 5
    }

    /// The allocation itself.
    public var allocation: any LayerwiseAllocation {
        switch self {
        case .uniform: return UniformAllocation()
        case let .dlp(alpha, statistic): return DLPAllocation(alpha: alpha, statistic: statistic)
        case let .owl(m, lambda): return OWLAllocation(outlierThreshold: m, lambda: lambda)
        }
    }

    /// The per-block value the allocation ranks by, for reports.
    public func rankingStatistic(_ s: BlockScoreStatistics) -> Double? {
        switch self {
        case .uniform: return nil
        case let .dlp(_, statistic): return statistic.value(of: s)
        case .owl: return s.outlierRatio
        }
    }
}
