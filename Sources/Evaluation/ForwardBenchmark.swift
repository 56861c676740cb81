import Foundation
import Kernels
import Transformer

/// Throughput of the full forward pass (embedding, every block, final norm, LM head and
/// log-softmax) on windows of `T` tokens, next to the GEMM peak measured in the same run.
///
/// FLOPs per token: `2·P` for the block linears (`P` their parameters), `2·V·D` for the LM
/// head, and per block `4·H·d·(T+1)/2` for causal attention (`QKᵀ` and `AV` over the
/// `(T+1)/2` keys a query sees on average). Element-wise work is not counted.
public enum ForwardBenchmark {
    public struct Report: Sendable, Codable {
        public var model: String
        public var tokens: Int
        public var windows: Int
        public var threads: Int
        public var seconds: Double
        public var tokensPerSecond: Double
        public var flopsPerToken: Double
        public var gflops: Double
        /// Best square GEMM (2048³) of this run on the same threads.
        public var gemmPeakGflops: Double
        public var ratioToPeak: Double
        /// Seconds per part of the pass (block parts from ``ForwardProfile``, plus embedding,
        /// block decoding and the LM head).
        public var breakdown: [String: Double]
        public var peakResidentBytes: Int
        /// The number format of the linear layers and the LM head.
        public var precision: String
        /// Which attention ran: `fused (AVX2)`, `fused (bf16)` or `BLAS`.
        public var attention: String
        /// The same pass with attention's BLAS twin, when the fused kernel ran: its wall seconds
        /// and its attention seconds (same run, same windows).
        public var twinSeconds: Double?
        public var twinAttentionSeconds: Double?
        /// The LM head + log-softmax seconds of that second pass, which also runs the head's twin
        /// (whole logits rows, then log-sum-exp) instead of the fused vocabulary tiles.
        public var twinHeadSeconds: Double?
        /// Whether sparse enough f32 linears multiplied by their non-zeros (``BlockWorkspace/sparseLinears``).
        public var sparseLinears: Bool?
    }

    /// The profile part that holds attention.
    public static let attentionPart = ForwardPart.attentionScores.rawValue
    /// The breakdown entry of the LM head and its log-softmax.
    public static let headPart = "LM head + log-softmax"

    /// FLOPs per token of a forward pass over windows of `t` tokens.
    public static func flopsPerToken(_ c: ModelConfiguration, sequenceLength t: Int) -> Double {
        let linears = 2 * Double(c.layerCount * c.linearParametersPerBlock)
        let head = 2 * Double(c.vocabularySize * c.hiddenSize)
        let attention = Double(c.layerCount) * 4 * Double(c.headCount * c.headDimension) * Double(t + 1) / 2
        return linears + head + attention
    }

    /// Runs `windows` windows of token ids (each `model.maxSequenceLength` long) through the model.
    /// With `compareTwin`, the pass runs a second time with the twins (attention's BLAS twin where
    /// the fused kernel ran, and the LM head's unfused twin), for the comparison in the report.
    public static func run(model: LanguageModel, windows: [[Int32]], threads: ComputeThreads,
                           precision: ComputePrecision = .f32, sparseLinears: Bool = false,
                           compareTwin: Bool = true) throws -> Report {
        var report = try run(model: model, windows: windows, threads: threads, precision: precision,
                             fusedAttention: Attention.fusedKernelAvailable, fusedHead: true, sparseLinears: sparseLinears)
        if compareTwin {
            let twin = try run(model: model, windows: windows, threads: threads, precision: precision,
                               fusedAttention: false, fusedHead: false, sparseLinears: sparseLinears)
            report.twinSeconds = twin.seconds
            if Attention.fusedKernelAvailable && Attention.fusedKernelHandles(model.configuration) {
                report.twinAttentionSeconds = twin.breakdown[attentionPart]
            }
            report.twinHeadSeconds = twin.breakdown[headPart]
        }
        return report
    }

    static func run(model: LanguageModel, windows: [[Int32]], threads: ComputeThreads, precision: ComputePrecision,
                    fusedAttention: Bool, fusedHead: Bool, sparseLinears: Bool = false) throws -> Report {
        let c = model.configuration, t = windows[0].count
        let seconds2048 = GEMMBenchmark.time(m: 2048, k: 2048, n: 2048, threads: threads, minimumSeconds: 0.5)
        let peak = 2 * pow(2048.0, 3) / seconds2048 / 1e9
        threads.applyToBLAS()
        let workspace = BlockWorkspace(configuration: c, capacity: t, threads: threads, precision: precision)
        let profile = ForwardProfile()
        workspace.profile = profile
        workspace.fusedAttention = fusedAttention
        workspace.sparseLinears = sparseLinears
        var extra = [String: Double]()
        func timed<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
            let start = Date()
            defer { extra[name, default: 0] += Date().timeIntervalSince(start) }
            return try body()
        }
        let start = Date()
        let buffer = ActivationBuffer(sequences: windows.count, tokens: t, hiddenSize: c.hiddenSize)
        try timed("embedding") { try model.embed(windows, into: buffer) }
        for index in 0..<c.layerCount {
            let layer = try timed("block decoding") { try model.layer(index) }
            for s in 0..<windows.count { layer.forward(buffer.sequence(s), tokens: t, workspace: workspace) }
        }
        for (s, window) in windows.enumerated() {
            _ = timed(headPart) {
                model.negativeLogLikelihoods(buffer.sequence(s), tokens: t, targets: Array(window.dropFirst()) + [-1],
                                             threads: threads, precision: precision, fused: fusedHead)
            }
        }
        let seconds = Date().timeIntervalSince(start)
        var breakdown = extra
        for (part, value) in profile.seconds { breakdown[part.rawValue] = value }
        let tokens = Double(windows.count * t)
        let gflops = flopsPerToken(c, sequenceLength: t) * tokens / seconds / 1e9
        return Report(model: model.checkpoint.url.lastPathComponent, tokens: t, windows: windows.count,
                      threads: threads.count, seconds: seconds, tokensPerSecond: tokens / seconds,
                      flopsPerToken: flopsPerToken(c, sequenceLength: t), gflops: gflops, gemmPeakGflops: peak,
                      ratioToPeak: gflops / peak, breakdown: breakdown, peakResidentBytes: peakResidentBytes(), precision: precision.rawValue,
                      attention: !fusedAttention ? "BLAS"
                        : precision == .bf16 && c.headDimension % 16 == 0 ? "fused (bf16)"
                        : Attention.fusedKernelHandles(c) ? "fused (AVX2)" : "BLAS",
                      sparseLinears: sparseLinears)
    }

    /// The process's peak resident set size: `VmHWM` of `/proc/self/status` on Linux, else
    /// `getrusage`'s `ru_maxrss`. Not `ru_maxrss` on Linux: the kernel carries it over `fork` and
    /// `exec`, so a `dlp` started by a large process (a test runner holding gigabytes) would
    /// report its parent's peak; `VmHWM` belongs to the process's own address space.
    public static func peakResidentBytes() -> Int {
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
           let kilobytes = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap({ Int($0) }) {
            return kilobytes * 1024
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024
    }
}
