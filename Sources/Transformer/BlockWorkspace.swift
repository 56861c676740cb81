import Kernels

/// Scratch buffers for running one decoder block on up to `capacity` tokens, allocated once and
/// reused for every block and window (T = tokens of the current call, `capacity` at most).
///
/// Letters: T tokens, D hidden, F intermediate, H query heads, K key/value heads, d head width,
/// C query rows per attention tile.
public final class BlockWorkspace: @unchecked Sendable {
    /// Largest number of tokens one call may pass.
    public let capacity: Int
    /// Query rows per attention tile.
    public let tileRows: Int
    /// Threads for the parts that are not BLAS calls (attention heads, LM-head rows).
    public let threads: ComputeThreads
    let normed: UnsafeMutablePointer<Float>     // [T, D]
    let query: UnsafeMutablePointer<Float>      // [T, H·d]
    let key: UnsafeMutablePointer<Float>        // [T, K·d]
    let value: UnsafeMutablePointer<Float>      // [T, K·d]
    let context: UnsafeMutablePointer<Float>    // [T, H·d]
    let gate: UnsafeMutablePointer<Float>       // [T, F]
    let up: UnsafeMutablePointer<Float>         // [T, F]
    let scores: UnsafeMutablePointer<Float>     // [threads][attention scratch]
    let joinedKey: UnsafeMutablePointer<Float>   // [T, K·d] a prefix's keys followed by a segment's
    let joinedValue: UnsafeMutablePointer<Float> // [T, K·d]
    private let sizes: [Int]
    /// When set, the block forward pass records its time per part here.
    public var profile: ForwardProfile?
    /// Whether attention runs the fused kernel where it applies (see ``Attention``); false runs
    /// its BLAS twin (benchmarks compare the two).
    public var fusedAttention = Attention.fusedKernelAvailable
    /// Whether f32 linear layers sparse enough (``DecoderLayer/sparseDensityLimit``) multiply by
    /// their non-zeros (``SparseMatrix/multiplySparse(tokens:count:inputStride:into:outputStride:bias:accumulate:threads:)``)
    /// instead of the dense GEMM, where the CPU runs that kernel. Same sums to rounding, not bits.
    public var sparseLinears = false
    /// The number format of the linear layers' products (``ComputePrecision``).
    public let precision: ComputePrecision
    /// bf16 activations for the linear layers when `precision` is bf16: `[T, widest input]`.
    let bf16Activations: UnsafeMutablePointer<UInt16>?

    /// Buffers for `configuration` and windows of up to `capacity` tokens.
    /// `precision` bf16 requires a CPU that supports it (``ComputePrecision/unsupportedReason``).
    public init(configuration c: ModelConfiguration, capacity: Int, threads: ComputeThreads, tileRows: Int = 128,
                precision: ComputePrecision = .f32) {
        precondition(capacity > 0 && tileRows > 0, "workspace capacity and tile rows must be positive")
        precondition(precision.unsupportedReason == nil, precision.unsupportedReason ?? "")
        self.precision = precision
        let widest = max(c.hiddenSize, c.headCount * c.headDimension, c.intermediateSize)
        bf16Activations = precision == .bf16 ? .allocate(capacity: GEMM.bf16ScratchCount(tokens: capacity, inputSize: widest)) : nil
        self.capacity = capacity
        self.tileRows = tileRows
        self.threads = threads
        let q = c.headCount * c.headDimension, kv = c.keyValueHeadCount * c.headDimension
        sizes = [capacity * c.hiddenSize, capacity * q, capacity * kv, capacity * kv, capacity * q,
                 capacity * c.intermediateSize, capacity * c.intermediateSize,
                 threads.count * Attention.scratchPerWorker(configuration: c, tileRows: tileRows, capacity: capacity),
                 capacity * kv, capacity * kv]
        let buffers = sizes.map { size -> UnsafeMutablePointer<Float> in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: size)
            p.initialize(repeating: 0, count: size)
            return p
        }
        (normed, query, key, value, context, gate, up, scores) =
            (buffers[0], buffers[1], buffers[2], buffers[3], buffers[4], buffers[5], buffers[6], buffers[7])
        (joinedKey, joinedValue) = (buffers[8], buffers[9])
    }

    /// Bytes held by the buffers.
    public var byteCount: Int {
        let widest = bf16Activations == nil ? 0 : GEMM.bf16ScratchCount(tokens: capacity, inputSize: bf16Width)
        return sizes.reduce(0, +) * MemoryLayout<Float>.size + widest * 2
    }
    private var bf16Width: Int { max(sizes[0], sizes[1], sizes[5]) / capacity }

    deinit {
        for p in [normed, query, key, value, context, gate, up, scores, joinedKey, joinedValue] { p.deallocate() }
        bf16Activations?.deallocate()
    }
}
