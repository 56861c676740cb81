import TensorCore

/// Throughput of `Y = X · Wᵀ` for the linear layers of LLaMA-family models, next to the best
/// square GEMM throughput measured in the same run (the machine's practical peak).
///
/// GFLOP/s counts `2·T·in·out` floating-point operations per product. Each product is timed
/// after one warm-up call, repeated until `minimumSeconds` have passed (at least
/// `minimumRuns` times), and the fastest run is reported.
public enum GEMMBenchmark {
    /// One linear-layer shape: `[T, inputSize] × [outputSize, inputSize]ᵀ`.
    public struct Shape: Sendable, Codable, Equatable {
        /// Model the layer belongs to.
        public var model: String
        /// Layer name (e.g. `q_proj`).
        public var layer: String
        /// `in`.
        public var inputSize: Int
        /// `out`.
        public var outputSize: Int

        public init(model: String, layer: String, inputSize: Int, outputSize: Int) {
            self.model = model
            self.layer = layer
            self.inputSize = inputSize
            self.outputSize = outputSize
        }
    }

    /// The distinct linear shapes of SmolLM2-135M (hidden 576, 3 KV heads × 64, FFN 1536,
    /// vocabulary 49152) and Qwen2.5-1.5B (hidden 1536, 2 KV heads × 128, FFN 8960).
    public static let llmShapes: [Shape] = [
        Shape(model: "SmolLM2-135M", layer: "q_proj, o_proj", inputSize: 576, outputSize: 576),
        Shape(model: "SmolLM2-135M", layer: "k_proj, v_proj", inputSize: 576, outputSize: 192),
        Shape(model: "SmolLM2-135M", layer: "gate_proj, up_proj", inputSize: 576, outputSize: 1536),
        Shape(model: "SmolLM2-135M", layer: "down_proj", inputSize: 1536, outputSize: 576),
        Shape(model: "SmolLM2-135M", layer: "lm_head", inputSize: 576, outputSize: 49152),
        Shape(model: "Qwen2.5-1.5B", layer: "q_proj, o_proj", inputSize: 1536, outputSize: 1536),
        Shape(model: "Qwen2.5-1.5B", layer: "k_proj, v_proj", inputSize: 1536, outputSize: 256),
        Shape(model: "Qwen2.5-1.5B", layer: "gate_proj, up_proj", inputSize: 1536, outputSize: 8960),
        Shape(model: "Qwen2.5-1.5B", layer: "down_proj", inputSize: 8960, outputSize: 1536),
    ]

    /// One timed product.
    public struct Measurement: Sendable, Codable, Equatable {
        /// What was multiplied (a shape's model and layer, or `square`).
        public var label: String
        /// `[m, k] × [n, k]ᵀ`: `m` tokens, `k` inputs, `n` outputs.
        public var m: Int, k: Int, n: Int
        /// OpenBLAS threads.
        public var threads: Int
        /// Fastest run, seconds.
        public var seconds: Double
        /// `2·m·k·n / seconds / 1e9`.
        public var gflops: Double
        /// `gflops` over the peak of the same thread count (1 for the peak itself).
        public var ratioToPeak: Double
    }

    /// A whole run.
    public struct Report: Sendable, Codable {
        /// OpenBLAS core name (`SkylakeX`, `Haswell`, ...).
        public var coreName: String
        /// Rows of X.
        public var tokens: Int
        /// Best square product per thread count.
        public var peaks: [Measurement]
        /// The LLM shapes, per thread count.
        public var rows: [Measurement]
    }

    /// Times `[m, k] × [n, k]ᵀ` on `threads` OpenBLAS threads; returns the fastest run in seconds.
    public static func time(m: Int, k: Int, n: Int, threads: ComputeThreads,
                            minimumSeconds: Double = 0.5, minimumRuns: Int = 3) -> Double {
        threads.applyToBLAS()
        var generator = SeededGenerator(seed: 0x6E_6D6D)
        let x = UnsafeMutablePointer<Float>.allocate(capacity: m * k)
        let w = UnsafeMutablePointer<Float>.allocate(capacity: n * k)
        let y = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
        defer { x.deallocate(); w.deallocate(); y.deallocate() }
        for i in 0..<(m * k) { x[i] = generator.nextSignedUnit() }
        for i in 0..<(n * k) { w[i] = generator.nextSignedUnit() * 0.05 }
        y.initialize(repeating: 0, count: m * n)

        let product = {
            GEMM.linear(input: x, tokens: m, inputSize: k, weight: w, outputSize: n, output: y)
        }
        product()
        let clock = ContinuousClock()
        var best = Double.infinity
        var total = 0.0
        var runs = 0
        while runs < minimumRuns || total < minimumSeconds {
            let elapsed = clock.measure(product)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            best = min(best, seconds)
            total += seconds
            runs += 1
        }
        return best
    }

    /// Measures, for each thread count, the square peak (`peakSizes`, best kept, before and after
    /// the shapes) and every shape. `progress` receives one line per measurement (for stderr).
    public static func run(shapes: [Shape] = llmShapes, tokens: Int = 2048,
                           threadCounts: [ComputeThreads] = [ComputeThreads(1), ComputeThreads(2)],
                           peakSizes: [Int] = [2048, 3072], minimumSeconds: Double = 0.5,
                           progress: ((Measurement) -> Void)? = nil) -> Report {
        let previousThreads = BLASRuntime.threadCount
        defer { BLASRuntime.setThreadCount(max(1, previousThreads)) }
        var peaks: [Measurement] = []
        var rows: [Measurement] = []
        for threads in threadCounts {
            // The peak is measured before and after the shapes and the best kept, so a burst of
            // load from other processes during one of them does not set the reference.
            func measurePeak() -> Measurement? {
                var best: Measurement?
                for size in peakSizes {
                    let seconds = time(m: size, k: size, n: size, threads: threads, minimumSeconds: minimumSeconds)
                    let candidate = Measurement(label: "square \(size)", m: size, k: size, n: size,
                                                threads: threads.count, seconds: seconds,
                                                gflops: flops(m: size, k: size, n: size) / seconds / 1e9, ratioToPeak: 1)
                    progress?(candidate)
                    if candidate.gflops > (best?.gflops ?? 0) { best = candidate }
                }
                return best
            }
            let before = measurePeak()
            var measured: [Measurement] = []
            for shape in shapes {
                let seconds = time(m: tokens, k: shape.inputSize, n: shape.outputSize, threads: threads,
                                   minimumSeconds: minimumSeconds)
                let row = Measurement(label: "\(shape.model) \(shape.layer)", m: tokens, k: shape.inputSize,
                                      n: shape.outputSize, threads: threads.count, seconds: seconds,
                                      gflops: flops(m: tokens, k: shape.inputSize, n: shape.outputSize) / seconds / 1e9,
                                      ratioToPeak: .nan)
                progress?(row)
                measured.append(row)
            }
            let after = measurePeak()
            guard let peak = [before, after].compactMap({ $0 }).max(by: { $0.gflops < $1.gflops }) else {
                rows += measured
                continue
            }
            peaks.append(peak)
            rows += measured.map { row in
                var row = row
                row.ratioToPeak = row.gflops / peak.gflops
                return row
            }
        }
        return Report(coreName: BLASRuntime.coreName, tokens: tokens, peaks: peaks, rows: rows)
    }

    static func flops(m: Int, k: Int, n: Int) -> Double { 2 * Double(m) * Double(k) * Double(n) }
}
