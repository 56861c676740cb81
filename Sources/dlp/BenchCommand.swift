import Foundation
import Evaluation
import Kernels
import Inference
import Pruning
import Sparse
import TensorCore
import Transformer

/// `dlp bench gemm|forward|zeroshot ...`: GEMM throughput for LLM-shaped products, the forward
/// pass against it, and zero-shot scoring with and without a question's shared prefix.
struct BenchCommand: Command {
    static let name = "bench"
    static let summary = "benchmarks: gemm (BLAS on LLM shapes), forward (model vs GEMM peak), zeroshot (shared prefixes)"
    static let synopsis = """
        usage: dlp bench gemm [--threads N] [--tokens T] [--seconds S] [--json]
               dlp bench forward [--model MODEL] [--windows W] [--tokens T] [--threads N] [--precision f32,bf16] [--sparse-linears] [--json]
               dlp bench zeroshot [--model MODEL] [--tasks T1,T2,...] [--limit N] [--data-dir DIR] [--threads N] [--json]
               dlp bench sparse [--model MODEL] [--sparsity P] [--blocks N] [--threads N] [--seconds S] [--json]
               dlp bench decode [MODEL] [--context 128,512,2048] [--tokens N] [--dtype f32,bf16] [--sparsity P]
                                [--threads N] [--json]
        """
    static let benchmarkArgument = Option("BENCHMARK", nil, """
        gemm: Y = X·Wᵀ for the SmolLM2-135M and Qwen2.5-1.5B linear shapes, X [T, in],
          next to the best square GEMM of the same run (ratio = shape / square)
        forward: full forward pass (blocks, LM head, log-softmax) on W windows of T tokens of
          the C4 excerpt: tokens/s, effective GFLOP/s, ratio to the square GEMM peak of
          the same run and threads, time per kernel, peak memory
        zeroshot: the first N questions of each task scored with every sequence run whole,
          then with each question's common prefix run once (what `dlp eval` does):
          seconds, tokens per block per question, speed-up, largest log-likelihood
          difference and answers that differ
        sparse: one decode token through the block linears of the first N blocks (default all) of
          MODEL, stored dense and as bitmask sparse, f32 and bf16, every kernel this CPU runs:
          ms/token, bytes read, GB/s next to a plain memory read of the same run, sparse/dense.
          A dense model is pruned by magnitude (per matrix) to --sparsity (default 0.7) first; a
          `dlp prune` output keeps its own mask
        decode: text generation through the key/value-cache decoder with the block linears dense
          and sparse, same weights and value type: prefill tokens/s at each --context, decode
          tokens/s of --tokens generated after it, weight bytes read per token, GB/s next to a
          plain memory read of the same run, time per part, sparse/dense ratios. A dense model is
          magnitude-pruned to --sparsity first, as for sparse
        """)
    static let modelArgument = Option("MODEL", nil, "decode: the model (same as --model; default smollm2-135m)")
    static let contexts = Option("--context", "N,...", "decode: prompt lengths (default 128,512,2048, capped at the model's context)")
    static let precisions = Option("--precision", "P,...", "forward: number formats of the products, of f32,bf16 (default f32; both: side by side with the ratio)")
    static let dtypes = Option("--dtype", "T,...", "sparse, decode: value types, of f32,f16,bf16,q8_0,q4_0 (default f32,bf16)")
    static let tasks = Option("--tasks", "T", "tasks for zeroshot (default all: the paper's seven)")
    static let limit = Option("--limit", "N", "questions per task for zeroshot (default 100)")
    static let dataDir = Option("--data-dir", "DIR", "where <task>.jsonl live for zeroshot (default: $DLP_HOME/data/zeroshot)")
    static let sparseLinears = Option("--sparse-linears", nil, "forward: also run the pass with the f32 linears sparse enough (≤ 45% non-zeros)\nmultiplied by their non-zeros, side by side with the dense pass (use a pruned model)")
    static let model = Option("--model", "M", "model for forward and zeroshot (default smollm2-135m)")
    static let windows = Option("--windows", "W", "windows for forward (default 2)")
    static let threads = Option("--threads", "N", "OpenBLAS threads to measure (default: gemm 1 and 2, forward 2, zeroshot all)")
    static let tokens = Option("--tokens", "T", "rows of X / window length (default 2048); decode: tokens generated (default 32)")
    static let seconds = Option("--seconds", "S", "minimum timing per product, seconds (default 0.5)")
    static let sparsity = Option("--sparsity", "P", "sparse: fraction pruned from a dense model (default 0.7)")
    static let blocks = Option("--blocks", "N", "sparse: the first N blocks (default all)")
    static let json = Option("--json", nil, "machine-readable report on stdout")
    static let options = [benchmarkArgument, modelArgument, tasks, limit, dataDir, model, windows, threads, tokens, seconds, sparsity,
                          blocks, contexts, dtypes, precisions, sparseLinears, json]

    /// The benchmarks this verb knows.
    enum Benchmark: String, CaseIterable {
        case gemm, forward, zeroshot, sparse, decode

        static func parse(_ text: String) throws -> Benchmark {
            guard let value = Benchmark(rawValue: text) else {
                throw UsageError("unknown benchmark '\(text)'; valid: \(allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return value
        }
    }

    let benchmark: Benchmark
    let threadCounts: [ComputeThreads]
    let tokens: Int
    let minimumSeconds: Double
    let json: Bool
    var model: String
    let windows: Int
    let tasks: [ZeroShotTask]
    let limit: Int
    let dataDirectory: URL
    let sparsity: Double
    let blocks: Int?
    let explicitThreads: Int?
    let contextLengths: [Int]
    let valueTypes: [WeightType]
    let explicitTokens: Int?
    let precisions: [ComputePrecision]
    let sparseLinears: Bool

    init(arguments: inout Arguments) throws {
        json = arguments.flag(Self.json)
        sparseLinears = arguments.flag(Self.sparseLinears)
        model = try arguments.value(Self.model) ?? "smollm2-135m"
        windows = try arguments.value(Self.windows, positiveInt) ?? 2
        let threads = try arguments.value(Self.threads, positiveInt)
        explicitThreads = threads
        sparsity = try arguments.value(Self.sparsity) { (text: String) throws -> Double in
            guard let value = Double(text), value >= 0, value < 1 else { throw UsageError("expected a number in [0, 1)") }
            return value
        } ?? 0.7
        blocks = try arguments.value(Self.blocks, positiveInt)
        threadCounts = threads.map { [ComputeThreads($0)] } ?? [ComputeThreads(1), ComputeThreads(2)]
        explicitTokens = try arguments.value(Self.tokens, positiveInt)
        tokens = explicitTokens ?? 2048
        minimumSeconds = try arguments.value(Self.seconds) { text in
            guard let value = Double(text), value >= 0, value.isFinite else {
                throw UsageError("expected a non-negative number of seconds")
            }
            return value
        } ?? 0.5
        tasks = try arguments.value(Self.tasks, zeroShotTaskList) ?? ZeroShotTask.paperTasks
        dataDirectory = try arguments.value(Self.dataDir).map { URL(fileURLWithPath: $0) }
            ?? ZeroShotDataset.defaultDirectory(home: ModelReference.home())
        limit = try arguments.value(Self.limit, positiveInt) ?? 100
        contextLengths = try arguments.value(Self.contexts) { text in
            try text.split(separator: ",").map { try positiveInt(String($0)) }
        } ?? [128, 512, 2048]
        valueTypes = try arguments.value(Self.dtypes) { text in
            try text.split(separator: ",").map { try WeightType.parse(String($0)) }
        } ?? [.f32, .bf16]
        precisions = try arguments.value(Self.precisions) { text in
            let values = try text.split(separator: ",").map { part -> ComputePrecision in
                guard let value = ComputePrecision(rawValue: String(part)) else {
                    throw UsageError("unknown precision '\(part)'; valid: f32, bf16")
                }
                if let reason = value.unsupportedReason { throw UsageError(reason) }
                return value
            }
            guard !values.isEmpty, Set(values).count == values.count else { throw UsageError("expected f32, bf16 or f32,bf16") }
            return values
        } ?? [.f32]
        // Positionals last: every option's value has been taken by then.
        benchmark = try Benchmark.parse(try arguments.positional(Self.benchmarkArgument))
        if let positional = arguments.optionalPositional(Self.modelArgument) {
            guard benchmark == .decode else { throw UsageError("unexpected argument '\(positional)' (give the model with --model)") }
            model = positional
        }
    }

    func run() throws {
        switch benchmark {
        case .gemm: try runGEMM()
        case .forward: try runForward()
        case .sparse: try runSparse()
        case .decode: try runDecode()
        case .zeroshot: try runZeroShot()
        }
    }

    private func runZeroShot() throws {
        let threads = threadCounts.count == 1 ? threadCounts[0] : .allAvailable
        let datasets = try tasks.map { task in
            do { return try ZeroShotDataset(task: task, directory: dataDirectory, limit: limit) } catch let error as ZeroShotError {
                throw UsageError(error.description)
            }
        }
        let checkpoint = try Checkpoint.open(model)
        let languageModel = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: 2048)
        FileHandle.standardError.write(Data("zero-shot: first \(limit) questions per task, \(threads)\n".utf8))
        let r = try ZeroShotBenchmark.run(datasets: datasets, model: languageModel, tokenizer: try checkpoint.tokenizer(),
                                          scorer: ZeroShotScorer(threads: threads)) { t in
            FileHandle.standardError.write(Data(String(format: "  %@ %.1f s whole, %.1f s shared\n", t.task.rawValue,
                                                       t.wholeSeconds, t.sharedSeconds).utf8))
        }
        if json {
            try printJSON(r)
            return
        }
        print("zero-shot scoring, \(checkpoint.url.lastPathComponent), \(r.threads) threads: every sequence whole vs shared prefix")
        print(pad("task", 14) + " items  tokens/item whole → shared   seconds whole → shared  speed-up  max |Δll|  answers differ")
        for t in r.tasks {
            print(pad(t.task.rawValue, 14) + String(format: " %5d  %10.1f → %-8.1f  %12.1f → %-8.1f  %6.2f×  %9.1e  %d",
                                                     t.items, t.wholeTokensPerItem, t.sharedTokensPerItem,
                                                     t.wholeSeconds, t.sharedSeconds, t.speedup,
                                                     t.maxLogLikelihoodDifference, t.differingAnswers))
        }
        print(String(format: "all tasks: %.2f× faster with shared prefixes", r.speedup))
    }

    private func runGEMM() throws {
        let core = BLASRuntime.coreName
        FileHandle.standardError.write(Data("OpenBLAS core: \(core); T = \(tokens)\n".utf8))
        let report = GEMMBenchmark.run(tokens: tokens, threadCounts: threadCounts, minimumSeconds: minimumSeconds) { m in
            let line = "  " + pad(m.label, 40) + String(format: " %2d thr  %8.1f GFLOP/s\n", m.threads, m.gflops)
            FileHandle.standardError.write(Data(line.utf8))
        }
        if json {
            try printJSON(report)
            return
        }
        print("OpenBLAS core: \(report.coreName)")
        print("Y = X·Wᵀ, X [\(report.tokens), in], W [out, in]")
        for peak in report.peaks {
            print("peak (square \(peak.m)×\(peak.k)×\(peak.n)), \(ComputeThreads(peak.threads)): "
                  + String(format: "%.1f GFLOP/s", peak.gflops))
        }
        print(pad("model / layer", 34) + "     in    out  thr    GFLOP/s  of peak")
        for row in report.rows {
            print(pad(row.label, 34) + String(format: " %6d %6d %4d %10.1f %7.0f%%", row.k, row.n,
                                              row.threads, row.gflops, row.ratioToPeak * 100))
        }
    }

    private func runForward() throws {
        let threads = threadCounts.count == 1 ? threadCounts[0] : ComputeThreads(2)
        let checkpoint = try Checkpoint.open(model)
        let c4 = ModelReference.home().appendingPathComponent("data/c4.utf8")
        guard let text = try? String(contentsOf: c4, encoding: .utf8) else {
            throw UsageError("forward benchmark reads \(c4.path); fetch it with `make assets`")
        }
        let ids = try checkpoint.tokenizer().encode(text, addSpecial: false)
        guard ids.count >= windows * tokens else { throw UsageError("the C4 excerpt has fewer than \(windows) × \(tokens) tokens") }
        let chunks = (0..<windows).map { Array(ids[($0 * tokens)..<(($0 + 1) * tokens)]) }
        let model = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: tokens)
        FileHandle.standardError.write(Data("forward: \(windows) × \(tokens) tokens, \(threads), OpenBLAS core \(BLASRuntime.coreName)\n".utf8))
        var reports: [ForwardBenchmark.Report] = []
        for precision in precisions {
            reports.append(try ForwardBenchmark.run(model: model, windows: chunks, threads: threads, precision: precision))
        }
        if sparseLinears {
            reports.append(try ForwardBenchmark.run(model: model, windows: chunks, threads: threads, precision: .f32, sparseLinears: true))
        }
        if json {
            if reports.count == 1 { try printJSON(reports[0]) } else { try printJSON(reports) }
            return
        }
        for r in reports {
            print("forward pass, \(r.model): \(r.windows) windows × \(r.tokens) tokens, \(r.threads) threads, \(r.precision) products"
                  + (r.sparseLinears == true ? ", sparse linears by their non-zeros" : ""))
            print(String(format: "  %.0f tokens/s, %.2f GFLOP/token, %.1f GFLOP/s effective", r.tokensPerSecond, r.flopsPerToken / 1e9, r.gflops))
            print(String(format: "  f32 GEMM peak (2048³, same threads, same run): %.1f GFLOP/s → forward at %.0f%% of peak", r.gemmPeakGflops, r.ratioToPeak * 100))
            print(String(format: "  peak resident memory %.0f MiB; wall %.2f s", Double(r.peakResidentBytes) / 1048576, r.seconds))
            if let twin = r.twinSeconds, let twinAttention = r.twinAttentionSeconds,
               let attention = r.breakdown[ForwardBenchmark.attentionPart] {
                print(String(format: "  attention %@: %.3f s; its BLAS twin (second pass, same run): %.3f s (%.2f×), that pass %.2f s in all",
                             r.attention, attention, twinAttention, twinAttention / attention, twin))
            } else {
                print("  attention: \(r.attention)")
            }
            if let twinHead = r.twinHeadSeconds, let head = r.breakdown[ForwardBenchmark.headPart] {
                print(String(format: "  LM head + log-softmax by vocabulary tiles: %.3f s; its twin (whole logits rows, same second pass): %.3f s (%.2f×)",
                             head, twinHead, twinHead / head))
            }
            print("  time per part:")
            for (part, seconds) in r.breakdown.sorted(by: { $0.value > $1.value }) {
                print("    " + pad(part, 28) + String(format: "%7.3f s  %5.1f%%", seconds, seconds / r.seconds * 100))
            }
        }
        if precisions.count == 2 {
            print(String(format: "%@ / %@ forward (tokens/s, same run): %.2f×", reports[1].precision, reports[0].precision,
                         reports[1].tokensPerSecond / reports[0].tokensPerSecond))
        }
        if sparseLinears, let sparse = reports.last, let dense = reports.first(where: { $0.precision == "f32" && $0.sparseLinears != true }) {
            print(String(format: "sparse linears / dense f32 forward (tokens/s, same run): %.2f×", sparse.tokensPerSecond / dense.tokensPerSecond))
        }
    }

    private func runSparse() throws {
        let threads = explicitThreads.map(ComputeThreads.init) ?? .allAvailable
        let checkpoint = try Checkpoint.open(model)
        let languageModel = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: 16)
        let count = min(blocks ?? checkpoint.configuration.layerCount, checkpoint.configuration.layerCount)
        var weights = [Matrix]()
        for l in 0..<count {
            let layer = try languageModel.layer(l)
            for role in TensorRole.linears { weights.append(layer.weights[linear: role]) }
        }
        let zeros = weights.reduce(0) { $0 + SparsityReport.zeroCount($1) }, total = weights.reduce(0) { $0 + $1.count }
        let pruned = Double(zeros) / Double(max(total, 1)) >= 0.05
        if !pruned {
            weights = try weights.map { w in
                var w = w
                _ = try LinearPruner(method: .magnitude).prune(&w, target: .ratio(sparsity), calibration: .none, name: "bench")
                return w
            }
        }
        FileHandle.standardError.write(Data("sparse GEMV: \(checkpoint.url.lastPathComponent), \(count) blocks, \(weights.count) matrices, "
            .appending(pruned ? "its own mask" : "magnitude-pruned to \(sparsity)").appending(", \(threads)\n").utf8))
        let r = SparseBenchmark.run(weights, valueTypes: valueTypes, threads: threads, minimumSeconds: minimumSeconds)
        if json {
            try printJSON(r)
            return
        }
        print("one decode token through \(r.matrices) block linears of \(checkpoint.url.lastPathComponent) "
              + String(format: "(%.1fM weights, %.1f%% zero), %d threads, CPU %@", Double(r.weights) / 1e6, r.sparsity * 100, r.threads, r.cpu))
        print(String(format: "plain memory read: %.1f GB/s", r.memoryReadGigabytesPerSecond))
        print("type  storage kernel      ms/token   MB/token    GB/s   vs dense")
        for row in r.rows {
            print(pad(row.valueType.rawValue, 6) + pad(row.storage, 8) + pad(row.kernel, 10)
                  + String(format: "%10.3f %10.1f %7.1f %8.2f×", row.millisecondsPerToken, Double(row.bytesPerToken) / 1e6,
                           row.gigabytesPerSecond, row.speedup))
        }
    }

    private func runDecode() throws {
        let threads = explicitThreads.map(ComputeThreads.init) ?? .allAvailable
        let checkpoint = try Checkpoint.open(model)
        let c = checkpoint.configuration
        let limit = c.contextLength > 0 ? c.contextLength : Int.max
        let tokens = explicitTokens ?? 32
        let contexts = contextLengths.filter { $0 + tokens <= limit }
        guard !contexts.isEmpty else { throw UsageError("--context: every length + \(tokens) tokens exceeds the model's context (\(limit))") }
        // A dense checkpoint is magnitude-pruned per matrix first (a pruned one keeps its mask).
        let first = try checkpoint.block(0)
        let zeros = TensorRole.linears.reduce(0) { $0 + SparsityReport.zeroCount(first[linear: $1]) }
        let total = TensorRole.linears.reduce(0) { $0 + first[linear: $1].count }
        let pruned = Double(zeros) / Double(max(total, 1)) >= 0.05
        let target = sparsity
        let weights: ((Int) throws -> BlockWeights)? = pruned ? nil : { index in
            var w = try checkpoint.block(index)
            for role in TensorRole.linears {
                var m = w[linear: role]
                _ = try LinearPruner(method: .magnitude).prune(&m, target: .ratio(target), calibration: .none, name: "bench")
                w[linear: role] = m
            }
            return w
        }
        FileHandle.standardError.write(Data("decode: \(checkpoint.url.lastPathComponent), \(pruned ? "its own mask" : "magnitude-pruned to \(sparsity)"), \(threads)\n".utf8))
        let r = try DecodeBenchmark.run(checkpoint, blockWeights: weights, valueTypes: valueTypes, contexts: contexts, tokens: tokens,
                                        threads: threads) { FileHandle.standardError.write(Data("  \($0)\n".utf8)) }
        if json {
            try printJSON(r)
            return
        }
        print("decode: \(URL(fileURLWithPath: r.model).lastPathComponent), block linears \(String(format: "%.1f", r.sparsity * 100))% zero, "
              + "\(r.threads) threads, CPU \(r.cpu), \(r.generatedTokens) tokens generated after each context")
        print(String(format: "plain memory read: %.1f GB/s", r.memoryReadGigabytesPerSecond))
        print("type  storage context  prefill tok/s  decode tok/s  MB/token   GB/s  prefill ×  decode ×")
        for row in r.rows {
            print(pad(row.valueType.rawValue, 6) + pad(row.storage, 8) + String(format: "%7d %14.1f %13.1f %9.1f %6.1f %9.2f %9.2f",
                  row.context, row.prefillTokensPerSecond, row.decodeTokensPerSecond, Double(row.weightBytesPerToken) / 1e6,
                  row.gigabytesPerSecond, row.prefillSpeedup, row.decodeSpeedup))
        }
        print("decode time per token by part (ms), first context:")
        let parts = DecodePart.allCases.map(\.rawValue)
        for row in r.rows where row.context == r.rows[0].context {
            print("  " + pad("\(row.valueType) \(row.storage)", 13)
                  + parts.map { "\($0) \(String(format: "%.2f", row.millisecondsPerPart[$0] ?? 0))" }.joined(separator: "  "))
        }
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
