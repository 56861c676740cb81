import Foundation

/// A layerwise allocation with its parameter values: what a run asked for, parsed once at the
/// edge (CLI, plan, job file, manifest), compared by value, and turned into ratios by the
/// ``LayerwiseAllocation`` it names. Names, flags, plan keys, tags, labels and cache keys all
/// come from the allocation's declaration.
public struct Allocation: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Every allocation the tool knows, in the order `--help` lists them. Register a new
    /// ``LayerwiseAllocation`` here.
    public static let registry: [any LayerwiseAllocation.Type] = [
        UniformAllocation.self,
        OWLAllocation.self,
        DLPAllocation.self,
        LinearRampAllocation.self,
    ]

    /// The names the tool accepts.
    public static var names: [String] { registry.map { $0.name } }

    /// The allocation's type.
    public let kind: any LayerwiseAllocation.Type
    /// Every declared parameter's value, canonical text.
    public let values: AllocationValues
    /// The allocation itself.
    public let method: any LayerwiseAllocation

    /// The allocation `name` with `given` parameter values (raw text by key); missing ones take
    /// their defaults, unknown keys and invalid values are errors naming what is valid.
    public init(name: String, parameters given: [String: String] = [:]) throws {
        let kind = try Self.kind(named: name)
        let declared = kind.parameters
        if let unknown = given.keys.sorted().first(where: { key in !declared.contains { $0.key == key } }) {
            let valid = declared.isEmpty ? "none" : declared.map(\.key).joined(separator: ", ")
            throw PruningError.invalidSetting(name: "\(kind.name) parameter", value: unknown, valid: valid)
        }
        var values = [String: String]()
        for parameter in declared {
            values[parameter.key] = try AllocationValues.canonical(given[parameter.key] ?? parameter.defaultValue,
                                                                   parameter: parameter)
        }
        self.kind = kind
        self.values = AllocationValues(values)
        self.method = try kind.init(values: self.values)
    }

    /// The registered allocation called `name` (any case), or an error listing the names.
    public static func kind(named name: String) throws -> any LayerwiseAllocation.Type {
        guard let kind = registry.first(where: { $0.name == name.lowercased() }) else {
            throw PruningError.invalidSetting(name: "allocation", value: name, valid: names.joined(separator: ", "))
        }
        return kind
    }

    /// The allocation with every parameter at its default.
    public static func named(_ name: String) throws -> Allocation { try Allocation(name: name) }

    public var name: String { kind.name }

    /// Parameters by key, for manifests and cache keys (`["alpha": "0.15", "statistic": "median"]`).
    public var parameters: [String: String] { values.byKey }

    public var requirement: AllocationRequirement { method.requirement }

    /// Whether every parameter has its default value.
    public var isDefault: Bool { kind.parameters.allSatisfy { values[$0.key] == $0.defaultValue } }

    /// Identifier in cell folder names: `uniform`, `owl-M5-l0.08`, `dlp-a0.15-median`.
    public var tag: String {
        ([name] + kind.parameters.map { $0.tag + Self.compact(values[$0.key] ?? "") }).joined(separator: "-")
    }

    /// How tables label it: `DLP`, or `DLP (α=0.1, mean)` when a parameter is not its default.
    public var label: String {
        guard !isDefault else { return kind.title }
        return "\(kind.title) (" + kind.parameters.map { $0.symbol + Self.compact(values[$0.key] ?? "") }
            .joined(separator: ", ") + ")"
    }

    /// `dlp (alpha=0.15, statistic=median)`.
    public var description: String {
        let parts = kind.parameters.map { "\($0.key)=\(values[$0.key] ?? "")" }
        return parts.isEmpty ? name : "\(name) (\(parts.joined(separator: ", ")))"
    }

    /// Ratios for `blocks` blocks from their statistics (empty when not needed).
    public func ratios(_ statistics: [BlockScoreStatistics], blocks: Int, target: Double) throws -> [Double] {
        try method.ratios(statistics, blocks: blocks, target: target)
    }

    /// The per-block value the allocation ranks by, for reports.
    public func rankingStatistic(_ statistics: BlockScoreStatistics) -> Double? { method.rankingStatistic(statistics) }

    /// Every parameter of every registered allocation, one per flag (for CLI parsing and help).
    public static var allParameters: [AllocationParameter] {
        var seen = [AllocationParameter]()
        for kind in registry {
            for p in kind.parameters where !seen.contains(where: { $0.flag == p.flag }) { seen.append(p) }
        }
        return seen
    }

    /// The registered allocations that take `flag`.
    public static func users(of flag: String) -> [String] {
        registry.filter { $0.parameters.contains { $0.flag == flag } }.map { $0.name }
    }

    /// A number parameter's text in its shortest form (`0.15`, `5.0` → `5`); other text unchanged.
    static func compact(_ text: String) -> String { Double(text).map(compactNumber) ?? text }

    public static func == (a: Allocation, b: Allocation) -> Bool { a.name == b.name && a.values == b.values }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(values)
    }
}

extension Allocation: Codable {
    enum CodingKeys: String, CodingKey { case name, parameters }

    /// `{"name": "dlp", "parameters": {"alpha": "0.15", "statistic": "median"}}`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decode(String.self, forKey: .name)
        let parameters = try c.decodeIfPresent([String: String].self, forKey: .parameters) ?? [:]
        do { try self.init(name: name, parameters: parameters) } catch let error as PruningError {
            throw DecodingError.dataCorruptedError(forKey: .name, in: c, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(parameters, forKey: .parameters)
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
