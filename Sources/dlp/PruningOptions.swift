import Foundation
import Kernels
import Pruning
import TensorIO
import Transformer

/// Options shared by `dlp prune` and `dlp allocate`: what to prune to, how ratios are allocated,
/// which calibration. Parsed and validated before any model is loaded.
struct PruningOptions {
    static let usage = """
          --sparsity P            target fraction of zero weights in the block linears, 0 < P < 1 (default 0.7;
                                  with an N:M pattern the pattern's own fraction)
          --allocation A          uniform | owl | dlp (default dlp)
          --alpha α               DLP: ratios span 2α around P (default 0.15)
          --statistic S           DLP: block unimportance statistic, median (paper) | mean (released code)
          --owl-m M, --owl-lambda λ
                                  OWL: outlier threshold M (default 5) and range λ (default 0.08)
          --pattern unstructured|N:M
                                  N:M = at most N non-zeros in every M consecutive weights of a row (2:4, 4:8);
                                  with owl/dlp each block gets its own N (mixed N:M)
          --threads N             CPU threads (default: all available)
          --no-cache              recompute the allocation pass even if its ratios are cached
        """
    let model: String
    let allocation: AllocationChoice
    let target: Double
    let pattern: SparsityPattern
    let calibration: CalibrationOptions
    let threads: ComputeThreads
    let useCache: Bool

    init(arguments: inout Arguments) throws {
        func convert<T>(_ body: () throws -> T) throws -> T {
            do { return try body() } catch let error as PruningError { throw UsageError(error.description) }
        }
        pattern = try arguments.option("--pattern") { text in try convert { try SparsityPattern.parse(text) } } ?? .unstructured
        let sparsity = try arguments.option("--sparsity") { (text: String) throws -> Double in
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
        let alpha = try arguments.option("--alpha", nonNegative) ?? 0.15
        let m = try arguments.option("--owl-m", nonNegative) ?? 5
        let lambda = try arguments.option("--owl-lambda", nonNegative) ?? 0.08
        let statistic = try arguments.option("--statistic") { text in try convert { try BlockStatistic.parse(text) } } ?? .median
        let name = try arguments.option("--allocation") ?? "dlp"
        allocation = try convert { try AllocationChoice.parse(name, alpha: alpha, statistic: statistic, outlierThreshold: m, lambda: lambda) }
        if case .dlp = allocation, alpha >= min(target, 1 - target) * 2 {
            FileHandle.standardError.write(Data("note: α = \(alpha) around p = \(target) reaches past [0, 1); ratios will be clamped\n".utf8))
        }
        threads = try arguments.option("--threads", positiveInt).map(ComputeThreads.init) ?? .allAvailable
        useCache = !arguments.flag("--no-cache")
        calibration = try CalibrationOptions(arguments: &arguments)
        model = try arguments.positional("MODEL")
    }

    /// The allocation cache under the asset home.
    var cache: AllocationCache {
        AllocationCache(directory: ModelReference.home().appendingPathComponent("cache/allocations"))
    }
}

/// Ratios from the cache or from an allocation pass, with how they were obtained.
struct AllocationResult {
    var ratios: [Double]
    var statistics: [Double]?
    var cacheHit: Bool
    var cacheKey: String?
    var seconds: Double
}

extension PruningOptions {
    /// Per-block ratios for `options.allocation`: uniform directly, else from the cache or an
    /// allocation pass over the dense model (then cached).
    func allocate(model: LanguageModel, calibration set: CalibrationSet, modelSHA256: String) throws -> AllocationResult {
        let layers = model.configuration.layerCount
        guard allocation.needsStatistics else {
            return AllocationResult(ratios: [Double](repeating: target, count: layers), statistics: nil, cacheHit: false,
                                    cacheKey: nil, seconds: 0)
        }
        let (key, description) = AllocationCache.key(modelSHA256: modelSHA256, windowsSHA256: set.windowsDigest,
                                                     allocation: allocation.name, parameters: allocation.parameters, target: target)
        if useCache, let entry = cache.load(key), entry.ratios.count == layers {
            FileHandle.standardError.write(Data("allocation: cached ratios (\(key.prefix(12))…)\n".utf8))
            return AllocationResult(ratios: entry.ratios, statistics: entry.statistics, cacheHit: true, cacheKey: key, seconds: 0)
        }
        let start = Date()
        let pipeline = PruningPipeline(model: model, windows: set.windows, threads: threads)
        let bar = ProgressBar(label: "allocation pass", unit: "tok")
        let statistics = try pipeline.blockStatistics(outlierThreshold: allocation.outlierThreshold) { p in
            bar.update(p.block, of: p.blocks, unitsPerStep: Double(p.tokensPerBlock) / Double(p.blocks))
        }
        let ratios = try allocation.allocation.ratios(statistics, target: target)
        let ranking = statistics.compactMap(allocation.rankingStatistic)
        cache.store(AllocationCache.Entry(key: key, description: description, ratios: ratios, statistics: ranking))
        return AllocationResult(ratios: ratios, statistics: ranking, cacheHit: false, cacheKey: key,
                                seconds: Date().timeIntervalSince(start))
    }
}

/// `dlp allocate MODEL ...`: only the per-block ratios.
struct AllocateCommand: Command {
    static let name = "allocate"
    static let summary = "print the per-block sparsity ratios an allocation gives (no pruning)"
    static let usage = "usage: dlp allocate MODEL [options] [--json]\n" + PruningOptions.usage + "\n" + CalibrationOptions.usage
    let options: PruningOptions
    let json: Bool

    init(arguments: inout Arguments) throws {
        json = arguments.flag("--json")
        options = try PruningOptions(arguments: &arguments)
    }

    func run() throws {
        let checkpoint = try Checkpoint.open(options.model)
        let set = try CalibrationSet(settings: options.calibration.settings, tokenizer: try checkpoint.tokenizer())
        let model = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: options.calibration.settings.sequenceLength)
        let result = try options.allocate(model: model, calibration: set, modelSHA256: try SHA256Digest.file(modelFile(checkpoint)))
        let targets = try BlockTargets(pattern: options.pattern, ratios: result.ratios, target: options.target)
        if json {
            let object: [String: Any] = [
                "allocation": options.allocation.name, "parameters": options.allocation.parameters,
                "target": options.target, "pattern": "\(options.pattern)", "ratios": result.ratios,
                "targets": targets.targets.map(\.description), "achieved_mean": targets.achievedMean,
                "statistics": result.statistics ?? [], "cache_hit": result.cacheHit,
                "calibration_windows_sha256": set.windowsDigest,
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
            return
        }
        print("\(options.allocation.name) \(options.allocation.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")) target \(options.target) pattern \(options.pattern)")
        for (l, target) in targets.targets.enumerated() {
            let stat = result.statistics.map { String(format: "  statistic %.5g", $0[l]) } ?? ""
            print(String(format: "block %3d  ratio %.4f  ", l, result.ratios[l]) + "\(target)" + stat)
        }
        print(String(format: "mean %.6f, span %.4f", targets.achievedMean, (result.ratios.max() ?? 0) - (result.ratios.min() ?? 0)))
    }
}

/// The file whose digest identifies a checkpoint: the GGUF file, or a directory's index/single file.
func modelFile(_ checkpoint: Checkpoint) -> URL {
    guard checkpoint.format == .safetensors else { return checkpoint.url }
    let index = checkpoint.url.appendingPathComponent(SafetensorsCheckpoint.indexFileName)
    let single = checkpoint.url.appendingPathComponent(SafetensorsCheckpoint.singleFileName)
    return FileManager.default.fileExists(atPath: single.path) ? single : index
}
