/// `dlp bench gemm`: GEMM throughput for LLM-shaped products.
struct BenchCommand: Command {
    static let name = "bench"
    static let summary = "benchmarks: gemm"
    static let usage = "usage: dlp bench gemm"

    init(arguments: inout Arguments) throws {
        _ = try arguments.positional("benchmark name (gemm)")
    }

    func run() throws {
        throw UsageError("bench: not implemented yet")
    }
}
