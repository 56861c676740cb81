import Foundation
import Jobs
import Kernels
import Pruning
import TensorIO
import Transformer

/// Options shared by `dlp prune` and `dlp allocate`: what to prune to, how ratios are allocated.
/// The allocation flags come from the registered allocations' declared parameters.
struct PruningOptions {
    static let sparsity = Option("--sparsity", "P", "target fraction of zero weights in the block linears, 0 < P < 1 (default 0.7;\nwith an N:M pattern the pattern's own fraction)")
    static let allocation = Option("--allocation", "A", Allocation.names.joined(separator: " | ") + " (default dlp)\n"
                                   + Allocation.registry.map { "\($0.name): \($0.summary)" }.joined(separator: "\n"))
    static let parameters: [Option] = Allocation.allParameters.map { p in
        Option(p.flag, p.placeholder, Allocation.users(of: p.flag).joined(separator: ", ") + ": " + p.help)
    }
    static let pattern = Option("--pattern", "unstructured|N:M", "N:M = at most N non-zeros in every M consecutive weights of a row (2:4, 4:8);\nwith a non-uniform allocation each block gets its own N (mixed N:M)")
    static let noCache = Option("--no-cache", nil, "recompute the allocation pass even if its ratios are cached")
    static let options = [sparsity, allocation] + parameters + [pattern, threadsOption, noCache]

    let allocation: Allocation
    let target: Double
    let pattern: SparsityPattern
    let threads: Int?
    let reuseCache: Bool

    init(arguments: inout Arguments) throws {
        pattern = try arguments.value(Self.pattern) { try SparsityPattern.parse($0) } ?? .unstructured
        let sparsity = try arguments.value(Self.sparsity) { (text: String) throws -> Double in
            guard let value = Double(text), value > 0, value < 1 else { throw UsageError("expected a number in (0, 1)") }
            return value
        }
        if let implied = pattern.impliedRatio {
            if let sparsity, abs(sparsity - implied) > 1e-9 {
                throw UsageError("--sparsity \(sparsity) disagrees with --pattern \(pattern) (which prunes \(implied)); give one of them")
            }
            target = implied
        } else {
            target = sparsity ?? 0.7
        }
        let name = try arguments.value(Self.allocation) ?? "dlp"
        var given = [String: String]()
        var flags = [String: String]()
        for (option, parameter) in zip(Self.parameters, Allocation.allParameters) {
            guard let text = try arguments.value(option) else { continue }
            given[parameter.key] = text
            flags[parameter.key] = option.name
        }
        guard let kind = try? Allocation.kind(named: name) else {
            throw UsageError("--allocation \(name): not an allocation; valid: \(Allocation.names.joined(separator: ", "))")
        }
        for (key, flag) in flags.sorted(by: { $0.key < $1.key }) where !kind.parameters.contains(where: { $0.key == key && $0.flag == flag }) {
            throw UsageError("\(flag) does not apply to --allocation \(kind.name); it is a parameter of \(Allocation.users(of: flag).joined(separator: ", "))")
        }
        do { allocation = try Allocation(name: kind.name, parameters: given) } catch let error as PruningError {
            throw UsageError("--allocation \(kind.name): \(error.description)")
        }
        threads = try arguments.value(threadsOption, positiveInt)
        reuseCache = !arguments.flag(Self.noCache)
    }
}

/// `dlp allocate MODEL ...`: only the per-block ratios.
struct AllocateCommand: Command {
    static let name = "allocate"
    static let summary = "print the per-block sparsity ratios an allocation gives (no pruning)"
    static let synopsis = "usage: dlp allocate MODEL [options] [--json]"
    static let options = [modelArgument] + PruningOptions.options + CalibrationOptions.options + [jsonOption]
    let model: String
    let options: PruningOptions
    let calibration: CalibrationSettings
    let json: Bool

    init(arguments: inout Arguments) throws {
        json = arguments.flag(jsonOption)
        options = try PruningOptions(arguments: &arguments)
        calibration = try CalibrationOptions.settings(&arguments)
        model = try arguments.positional(modelArgument)
    }

    func run() throws {
        let checkpoint = try Checkpoint.open(model)
        let set = try CalibrationSet(settings: calibration, tokenizer: try checkpoint.tokenizer())
        let languageModel = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: calibration.sequenceLength,
                                              decodesHead: false)
        let pass = AllocationPass(allocation: options.allocation, target: options.target, cache: AllocationPass.defaultCache(),
                                  reuseCached: options.reuseCache,
                                  threads: options.threads.map(ComputeThreads.init) ?? .allAvailable)
        let result = try pass.run(model: languageModel, calibration: set, modelSHA256: try ModelIdentity.sha256(checkpoint),
                                  observer: .terminal())
        let targets = try BlockTargets(pattern: options.pattern, ratios: result.ratios, target: options.target)
        let allocation = options.allocation
        if json {
            let object: [String: Any] = [
                "allocation": allocation.name, "parameters": allocation.parameters,
                "target": options.target, "pattern": "\(options.pattern)", "ratios": result.ratios,
                "targets": targets.targets.map(\.description), "achieved_mean": targets.achievedMean,
                "statistics": result.statistics ?? [], "cache_hit": result.cacheHit,
                "calibration_windows_sha256": set.windowsDigest,
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
            return
        }
        print("\(allocation.name) \(allocation.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")) target \(options.target) pattern \(options.pattern)")
        for (l, target) in targets.targets.enumerated() {
            let stat = result.statistics.map { String(format: "  statistic %.5g", $0[l]) } ?? ""
            print(String(format: "block %3d  ratio %.4f  ", l, result.ratios[l]) + "\(target)" + stat)
        }
        print(String(format: "mean %.6f, span %.4f", targets.achievedMean, (result.ratios.max() ?? 0) - (result.ratios.min() ?? 0)))
    }
}
