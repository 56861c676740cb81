import Kernels
import TensorCore
import Transformer

/// Statistics of one block's pooled Wanda scores `A_ij = |W_ij|·sqrt(s_j)` over all seven
/// linears (DLP-METHOD §3 steps 2–3, §4): the inputs of DLP's and OWL's allocations.
///
/// - `median`: exact, the **lower** median `sorted(A)[(n − 1)/2]` (what `torch.median` returns
///   for an even count).
/// - `mean`: `Σ A / n`, accumulated in Double (the released DLP code's statistic).
/// - `outlierRatio`: OWL's `D = 100 · #{A > M·mean(A)} / n` with `M = outlierThreshold`; the
///   mean is over the pooled block, as DLP-METHOD §4 defines it.
///
/// Computation is memory-conscious (LLaMA-7B pools ≈ 200M scores per block): scores are never
/// stored. Pass 1 histograms the high 16 bits of each score's bit pattern (non-negative floats
/// order like their bit patterns) and sums; pass 2 histograms the low 16 bits of the scores in
/// the bucket holding the median rank, and counts outliers. Bucket and low bits together give the
/// exact median value. Rows run in parallel in `threads` chunks merged in chunk order: the
/// median and the maximum do not depend on the thread count, the mean (hence, at a boundary, the
/// outlier count) only through Double rounding of the chunked sum.
public struct BlockScoreStatistics: Sendable, Equatable, Codable {
    /// Number of pooled scores `n`.
    public var count: Int
    /// Lower median of the pooled scores.
    public var median: Double
    /// Mean of the pooled scores.
    public var mean: Double
    /// Largest pooled score.
    public var maximum: Double
    /// OWL's `M`: a score is an outlier when it exceeds `M · mean`.
    public var outlierThreshold: Double
    /// OWL's `D`, in percent.
    public var outlierRatio: Double

    /// Statistics with known values (tests, or values read back from a manifest).
    public init(count: Int, median: Double, mean: Double, maximum: Double, outlierThreshold: Double,
                outlierRatio: Double) {
        self.count = count
        self.median = median
        self.mean = mean
        self.maximum = maximum
        self.outlierThreshold = outlierThreshold
        self.outlierRatio = outlierRatio
    }

    /// One linear layer's contribution: its weight `[out, in]` and the squared input norms
    /// `s` (`[in]`, ``InputNormObserver/squaredNorms(for:)``).
    public struct Linear: Sendable {
        public var weight: Matrix
        public var squaredNorms: [Double]
        public var name: String
        public init(weight: Matrix, squaredNorms: [Double], name: String) {
            self.weight = weight
            self.squaredNorms = squaredNorms
            self.name = name
        }
    }

    /// Statistics of a block from its weights and an input-norm observer that saw the block.
    public static func compute(weights: BlockWeights, inputNorms: InputNormObserver, block: Int,
                               outlierThreshold: Double = 5, threads: ComputeThreads = .single) throws -> BlockScoreStatistics {
        let linears = try TensorRole.linears.map { role in
            Linear(weight: weights[linear: role], squaredNorms: try inputNorms.squaredNorms(for: role),
                   name: role.ggufName(block: block))
        }
        return try compute(linears, outlierThreshold: outlierThreshold, threads: threads)
    }

    /// Statistics of the pooled scores of `linears`.
    public static func compute(_ linears: [Linear], outlierThreshold: Double = 5,
                               threads: ComputeThreads = .single) throws -> BlockScoreStatistics {
        for linear in linears where linear.squaredNorms.count != linear.weight.columns {
            throw PruningError.statisticsShape(name: linear.name, expected: "[\(linear.weight.columns)] input norms",
                                               actual: "[\(linear.squaredNorms.count)]")
        }
        let scored = linears.map { ($0.weight, WeightScore.wanda(squaredNorms: $0.squaredNorms), $0.name) }
        for (weight, score, name) in scored { try score.validate(columns: weight.columns, name: name) }
        let n = linears.reduce(0) { $0 + $1.weight.count }
        guard n > 0 else {
            return BlockScoreStatistics(count: 0, median: 0, mean: 0, maximum: 0,
                                        outlierThreshold: outlierThreshold, outlierRatio: 0)
        }
        let rank = (n - 1) / 2
        // Pass 1: high-16-bit histogram, sum, maximum.
        var high = [Int](repeating: 0, count: 1 << 16)
        var sum = 0.0
        var maximum: Float = 0
        for (weight, score, name) in scored {
            let part = try sweep(weight, score: score, name: name, threads: threads) { s, n, state in
                for i in 0..<n {
                    let bits = s[i].bitPattern
                    state.histogram[Int(bits >> 16)] += 1
                    state.sum += Double(s[i])
                    state.maximum = max(state.maximum, s[i])
                }
            }
            for b in 0..<high.count { high[b] += part.histogram[b] }
            sum += part.sum
            maximum = max(maximum, part.maximum)
        }
        var before = 0, bucket = 0
        while before + high[bucket] <= rank {
            before += high[bucket]
            bucket += 1
        }
        let mean = sum / Double(n)
        let outlierCut = Float(outlierThreshold * mean)
        // Pass 2: low-16-bit histogram inside the median's bucket; outliers.
        var low = [Int](repeating: 0, count: 1 << 16)
        var outliers = 0
        let target = UInt32(bucket)
        for (weight, score, name) in scored {
            let part = try sweep(weight, score: score, name: name, threads: threads) { s, n, state in
                for i in 0..<n {
                    let bits = s[i].bitPattern
                    if bits >> 16 == target { state.histogram[Int(bits & 0xFFFF)] += 1 }
                    if s[i] > outlierCut { state.count += 1 }
                }
            }
            for b in 0..<low.count { low[b] += part.histogram[b] }
            outliers += part.count
        }
        var lowBits = 0
        while before + low[lowBits] <= rank {
            before += low[lowBits]
            lowBits += 1
        }
        let median = Float(bitPattern: UInt32(bucket) << 16 | UInt32(lowBits))
        return BlockScoreStatistics(count: n, median: Double(median), mean: mean, maximum: Double(maximum),
                                    outlierThreshold: outlierThreshold,
                                    outlierRatio: 100 * Double(outliers) / Double(n))
    }

    /// Per-chunk partial results of a sweep.
    struct Partial {
        var histogram = [Int](repeating: 0, count: 1 << 16)
        var sum = 0.0
        var maximum: Float = 0
        var count = 0
    }

    /// Runs `body` over the Wanda scores of `weight` row by row, in `threads` row chunks, each
    /// with its own `Partial`; returns the partials merged in chunk order.
    private static func sweep(_ weight: Matrix, score: WeightScore, name: String, threads: ComputeThreads,
                              _ body: @escaping @Sendable (UnsafePointer<Float>, Int, inout Partial) -> Void) throws -> Partial {
        let (rows, columns) = (weight.rows, weight.columns)
        let chunks = max(1, min(threads.count, rows))
        let partials = UnsafeMutablePointer<Partial>.allocate(capacity: chunks)
        partials.initialize(repeating: Partial(), count: chunks)
        defer { partials.deinitialize(count: chunks); partials.deallocate() }
        let failure = FirstFailure()
        let shared = SharedPointer(base: partials)
        weight.storage.withUnsafeBufferPointer { w in
            guard let wp = w.baseAddress else { return }
            let weights = SharedPointer(base: UnsafeMutablePointer(mutating: wp))
            parallelFor(0..<chunks, threads: threads) { range in
                let scores = UnsafeMutablePointer<Float>.allocate(capacity: columns)
                defer { scores.deallocate() }
                for chunk in range {
                    var state = Partial()
                    for r in (chunk * rows / chunks)..<((chunk + 1) * rows / chunks) {
                        if let c = score.scoreRow(weights.base + r * columns, columns: columns, into: scores) {
                            failure.record(row: r, column: c)
                            break
                        }
                        body(scores, columns, &state)
                    }
                    shared.base[chunk] = state
                }
            }
        }
        if let (r, c) = failure.first { throw PruningError.nonFiniteValue(name: name, row: r, column: c) }
        var merged = Partial()
        for chunk in 0..<chunks {
            let p = partials[chunk]
            for b in 0..<merged.histogram.count { merged.histogram[b] += p.histogram[b] }
            merged.sum += p.sum
            merged.maximum = max(merged.maximum, p.maximum)
            merged.count += p.count
        }
        return merged
    }
}
