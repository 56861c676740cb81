import Foundation
import Kernels
import Pruning
import Transformer

/// Per-block ratios and how they were obtained.
public struct AllocationOutcome: Sendable, Equatable {
    public var ratios: [Double]
    /// The per-block statistic the allocation ranked by, if it has one.
    public var statistics: [Double]?
    public var cacheHit: Bool
    public var cacheKey: String?
    /// Seconds of the allocation pass (0 when cached or data-free).
    public var seconds: Double
    /// Where each block's time went in the allocation pass; nil when cached or data-free.
    public var blockSeconds: [PruningPipeline.BlockSeconds]?
}

/// The cache-or-compute policy for an allocation's ratios: an allocation that needs nothing from
/// the model is computed directly; one that needs block statistics is looked up in the allocation
/// cache (keyed by model digest, calibration digest, allocation, parameters and target) and
/// otherwise computed by an allocation pass over the dense model, then stored.
public struct AllocationPass {
    public var allocation: Allocation
    public var target: Double
    public var cache: AllocationCache
    /// Read the cache (a pass's result is stored either way).
    public var reuseCached: Bool
    public var threads: ComputeThreads
    /// The products' number format of the pass's forward (part of the cache key when bf16).
    public var precision: ComputePrecision

    public init(allocation: Allocation, target: Double, cache: AllocationCache, reuseCached: Bool = true,
                threads: ComputeThreads = .allAvailable, precision: ComputePrecision = .f32) {
        self.precision = precision
        self.allocation = allocation
        self.target = target
        self.cache = cache
        self.reuseCached = reuseCached
        self.threads = threads
    }

    /// The cache under the asset home: `$DLP_HOME/cache/allocations`.
    public static func defaultCache(home: URL = ModelReference.home()) -> AllocationCache {
        AllocationCache(directory: home.appendingPathComponent("cache/allocations"))
    }

    public func run(model: LanguageModel, calibration set: CalibrationSet, modelSHA256: String,
                    observer: JobObserver = .silent) throws -> AllocationOutcome {
        let layers = model.configuration.layerCount
        guard case let .blockScores(outlierThreshold) = allocation.requirement else {
            return AllocationOutcome(ratios: try allocation.ratios([], blocks: layers, target: target), statistics: nil,
                                     cacheHit: false, cacheKey: nil, seconds: 0)
        }
        let (key, description) = AllocationCache.key(modelSHA256: modelSHA256, windowsSHA256: set.windowsDigest,
                                                     allocation: allocation.name,
                                                     parameters: allocation.parameters.merging(precision == .f32 ? [:] : ["precision": precision.rawValue]) { a, _ in a },
                                                     target: target)
        if reuseCached, let entry = cache.load(key), entry.ratios.count == layers {
            observer.note("allocation: cached ratios (\(key.prefix(12))…)")
            return AllocationOutcome(ratios: entry.ratios, statistics: entry.statistics, cacheHit: true, cacheKey: key, seconds: 0)
        }
        let start = Date()
        let pipeline = PruningPipeline(model: model, windows: set.windows, threads: threads, precision: precision)
        var blockSeconds = [PruningPipeline.BlockSeconds]()
        let statistics = try pipeline.blockStatistics(outlierThreshold: outlierThreshold ?? 5) { p in
            blockSeconds.append(p.seconds)
            observer.progress(JobProgress(task: "allocation pass", done: p.block, total: p.blocks,
                                          unitsPerStep: Double(p.tokensPerBlock) / Double(p.blocks), unit: "tok"))
        }
        let ratios = try allocation.ratios(statistics, blocks: layers, target: target)
        let ranking = statistics.compactMap(allocation.rankingStatistic)
        let statisticsByBlock = ranking.count == layers ? ranking : nil
        cache.store(AllocationCache.Entry(key: key, description: description, ratios: ratios, statistics: statisticsByBlock))
        return AllocationOutcome(ratios: ratios, statistics: statisticsByBlock, cacheHit: false, cacheKey: key,
                                 seconds: Date().timeIntervalSince(start), blockSeconds: blockSeconds)
    }
}
