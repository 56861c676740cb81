import CSparse
import Foundation
import Kernels
import TensorCore

/// Decode-shaped products (one token through every given matrix, `y = W · x`) with the weights
/// stored dense and stored as bitmask sparse, for each value type, in one run: seconds per token,
/// bytes read, effective GB/s next to a plain memory read measured in the same run, and the
/// sparse/dense ratio against the faster dense product of the same value type: for f32 OpenBLAS
/// `sgemv` or this module's dense kernel (``DenseGEMV``), for f16/bf16 the dense 16-bit kernel
/// (OpenBLAS has no 16-bit GEMV), for Q8_0/Q4_0 the dense quantized kernel (``QuantizedMatrix``;
/// the vector's quantization is part of each product's time).
public enum SparseBenchmark {
    public struct Row: Sendable, Codable {
        public var valueType: WeightType
        /// `dense` or `sparse`.
        public var storage: String
        /// `openblas`, `avx512`, `avx2`, `reference`.
        public var kernel: String
        public var millisecondsPerToken: Double
        public var bytesPerToken: Int
        public var gigabytesPerSecond: Double
        /// The faster dense time of the same value type / this time.
        public var speedup: Double
    }

    public struct Report: Sendable, Codable {
        public var cpu: String
        public var threads: Int
        public var matrices: Int
        public var weights: Int
        public var sparsity: Double
        /// A plain streaming read of a 512 MiB buffer with the same threads.
        public var memoryReadGigabytesPerSecond: Double
        public var rows: [Row]
    }

    /// Times every `weights` product per token: dense and sparse for each of `valueTypes`, with
    /// every kernel this CPU runs (reference only when `includeReference`).
    public static func run(_ weights: [Matrix], valueTypes: [WeightType] = [.f32, .bf16], threads: ComputeThreads,
                           minimumSeconds: Double = 0.5, includeReference: Bool = false) -> Report {
        threads.applyToBLAS()
        let x = weights.map { w in (0..<w.columns).map { Float(($0 * 7919) % 1000) / 1000 - 0.5 } }
        var y = weights.map { [Float](repeating: 0, count: $0.rows) }
        var rows = [Row]()
        let count = weights.reduce(0) { $0 + $1.count }
        let zeros = weights.reduce(0) { $0 + $1.storage.reduce(0) { $0 + ($1 == 0 ? 1 : 0) } }
        for weightType in valueTypes {
            if let quantized = weightType.quantizedType {
                rows += runQuantized(weights, type: quantized, x: x, y: &y, threads: threads, minimumSeconds: minimumSeconds,
                                     includeReference: includeReference)
                continue
            }
            let type = weightType.floatType!
            let denseBytes = count * type.size
            var denseSeconds: Double
            if type == .f32 {
                denseSeconds = time(minimumSeconds) {
                    for (i, w) in weights.enumerated() {
                        w.storage.withUnsafeBufferPointer { wb in
                            x[i].withUnsafeBufferPointer { xb in
                                y[i].withUnsafeMutableBufferPointer { yb in
                                    GEMV.apply(weight: wb.baseAddress!, rows: w.rows, columns: w.columns, x: xb.baseAddress!,
                                               output: yb.baseAddress!)
                                }
                            }
                        }
                    }
                }
                let blas = denseSeconds
                let kernel = SparseKernel.bestDense
                let own = time(minimumSeconds) {
                    for (i, w) in weights.enumerated() {
                        w.storage.withUnsafeBufferPointer { wb in
                            x[i].withUnsafeBufferPointer { xb in
                                y[i].withUnsafeMutableBufferPointer { yb in
                                    DenseGEMV.multiply(wb.baseAddress!, rows: w.rows, columns: w.columns, x: xb.baseAddress!,
                                                       into: yb.baseAddress!, kernel: kernel, threads: threads)
                                }
                            }
                        }
                    }
                }
                denseSeconds = min(blas, own)
                rows.append(row(type, "dense", "openblas", blas, denseBytes, denseSeconds))
                rows.append(row(type, "dense", kernel.rawValue, own, denseBytes, denseSeconds))
            } else {
                let half = weights.map { HalfMatrix($0, valueType: type) }
                let kernel = SparseKernel.bestDense
                denseSeconds = time(minimumSeconds) {
                    for (i, h) in half.enumerated() {
                        x[i].withUnsafeBufferPointer { xb in
                            y[i].withUnsafeMutableBufferPointer { h.multiply(xb.baseAddress!, into: $0.baseAddress!, kernel: kernel, threads: threads) }
                        }
                    }
                }
                rows.append(row(type, "dense", kernel.rawValue, denseSeconds, denseBytes, denseSeconds))
            }
            let sparse = weights.map { SparseMatrix($0, valueType: type) }
            let sparseBytes = sparse.reduce(0) { $0 + $1.storedBytes }
            for kernel in SparseKernel.available(for: type).reversed() where kernel != .reference || includeReference {
                let seconds = time(minimumSeconds) {
                    for (i, s) in sparse.enumerated() {
                        x[i].withUnsafeBufferPointer { xb in
                            y[i].withUnsafeMutableBufferPointer { s.multiply(xb.baseAddress!, into: $0.baseAddress!, kernel: kernel, threads: threads) }
                        }
                    }
                }
                rows.append(row(type, "sparse", kernel.rawValue, seconds, sparseBytes, denseSeconds))
            }
        }
        return Report(cpu: SparseKernel.cpuDescription, threads: threads.count, matrices: weights.count, weights: count,
                      sparsity: count == 0 ? 0 : Double(zeros) / Double(count),
                      memoryReadGigabytesPerSecond: memoryReadBandwidth(threads: threads, minimumSeconds: minimumSeconds),
                      rows: rows)
    }

    /// Dense and sparse products of `weights` quantized to `type`, every kernel this CPU runs.
    static func runQuantized(_ weights: [Matrix], type: QuantizedType, x: [[Float]], y: inout [[Float]], threads: ComputeThreads,
                             minimumSeconds: Double, includeReference: Bool) -> [Row] {
        var rows = [Row]()
        var denseSeconds = Double.infinity
        for sparse in [false, true] {
            let matrices = weights.map { QuantizedMatrix($0, type: type, sparse: sparse) }
            let bytes = matrices.reduce(0) { $0 + $1.storedBytes }
            for kernel in QuantizedKernel.available.reversed() where kernel != .reference || includeReference {
                let seconds = time(minimumSeconds) {
                    for (i, m) in matrices.enumerated() {
                        x[i].withUnsafeBufferPointer { xb in
                            y[i].withUnsafeMutableBufferPointer { m.multiply(xb.baseAddress!, into: $0.baseAddress!, kernel: kernel, threads: threads) }
                        }
                    }
                }
                if !sparse { denseSeconds = min(denseSeconds, seconds) }
                rows.append(row(WeightType(type), sparse ? "sparse" : "dense", kernel.rawValue, seconds, bytes, denseSeconds))
            }
        }
        return rows
    }

    static func row(_ type: SparseValueType, _ storage: String, _ kernel: String, _ seconds: Double, _ bytes: Int,
                    _ dense: Double) -> Row {
        row(WeightType(type), storage, kernel, seconds, bytes, dense)
    }

    static func row(_ type: WeightType, _ storage: String, _ kernel: String, _ seconds: Double, _ bytes: Int,
                    _ dense: Double) -> Row {
        Row(valueType: type, storage: storage, kernel: kernel, millisecondsPerToken: seconds * 1000, bytesPerToken: bytes,
            gigabytesPerSecond: Double(bytes) / seconds / 1e9, speedup: dense / seconds)
    }

    /// Best of three means of `body` repeated for at least `minimumSeconds / 3` each.
    static func time(_ minimumSeconds: Double, _ body: () -> Void) -> Double {
        body()
        var best = Double.infinity
        for _ in 0..<3 {
            var n = 0
            let start = Date()
            repeat {
                body()
                n += 1
            } while Date().timeIntervalSince(start) < minimumSeconds / 3
            best = min(best, Date().timeIntervalSince(start) / Double(n))
        }
        return best
    }

    /// GB/s of a streaming read of 512 MiB split over `threads`.
    public static func memoryReadBandwidth(threads: ComputeThreads, minimumSeconds: Double = 0.5) -> Double {
        let count = 128 << 20
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 1, count: count)
        let shared = SharedInput(UnsafePointer(buffer))
        let seconds = time(minimumSeconds) {
            parallelFor(0..<threads.count, threads: threads) { parts in
                for part in parts {
                    let lo = count * part / threads.count, hi = count * (part + 1) / threads.count
                    _ = csparse_read_bandwidth_probe(shared.pointer + lo, Int64(hi - lo))
                }
            }
        }
        return Double(count * 4) / seconds / 1e9
    }
}
