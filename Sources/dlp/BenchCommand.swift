import Foundation
import Kernels

/// `dlp bench gemm [--threads N] [--tokens T] [--json]`: GEMM throughput for LLM-shaped products.
struct BenchCommand: Command {
    static let name = "bench"
    static let summary = "benchmarks: gemm"
    static let usage = """
        usage: dlp bench gemm [--threads N] [--tokens T] [--seconds S] [--json]
          gemm         Y = X·Wᵀ for the SmolLM2-135M and Qwen2.5-1.5B linear shapes, X [T, in],
                       next to the best square GEMM of the same run (ratio = shape / square)
          --threads N  OpenBLAS threads to measure (default: 1 and 2)
          --tokens T   rows of X (default 2048)
          --seconds S  minimum timing per product, seconds (default 0.5)
          --json       machine-readable report on stdout
        """

    /// The benchmarks this verb knows.
    enum Benchmark: String, CaseIterable {
        case gemm

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

    init(arguments: inout Arguments) throws {
        json = arguments.flag("--json")
        let threads = try arguments.option("--threads", positiveInt)
        threadCounts = threads.map { [ComputeThreads($0)] } ?? [ComputeThreads(1), ComputeThreads(2)]
        tokens = try arguments.option("--tokens", positiveInt) ?? 2048
        minimumSeconds = try arguments.option("--seconds") { text in
            guard let value = Double(text), value >= 0, value.isFinite else {
                throw UsageError("expected a non-negative number of seconds")
            }
            return value
        } ?? 0.5
        benchmark = try Benchmark.parse(try arguments.positional("benchmark name (gemm)"))
    }

    func run() throws {
        switch benchmark {
        case .gemm: runGEMM()
        }
    }

    private func runGEMM() {
        let core = BLASRuntime.coreName
        FileHandle.standardError.write(Data("OpenBLAS core: \(core); T = \(tokens)\n".utf8))
        let report = GEMMBenchmark.run(tokens: tokens, threadCounts: threadCounts, minimumSeconds: minimumSeconds) { m in
            let line = "  " + pad(m.label, 40) + String(format: " %2d thr  %8.1f GFLOP/s\n", m.threads, m.gflops)
            FileHandle.standardError.write(Data(line.utf8))
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            if let data = try? encoder.encode(report), let text = String(data: data, encoding: .utf8) {
                print(text)
            }
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

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
