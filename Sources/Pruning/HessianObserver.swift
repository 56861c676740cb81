import Kernels
import TensorCore
import Transformer

/// Accumulates SparseGPT's layer Hessian `H = (2/N) · Σ_tokens x xᵀ` (`[in, in]`, Float) for
/// the inputs of the kept linear layers, one matrix per distinct input: q/k/v share one, gate/up
/// share one (DLP-METHOD §5).
///
/// Normalisation: per **sequence**, `N` = number of `observe` calls for that input (one per
/// calibration sequence) or the `sequenceCount` given at initialisation. The raw sum `Σ x xᵀ`
/// is accumulated by ``GEMM/gramUpdate(_:rows:columns:alpha:beta:into:mirror:threads:)`` and scaled by `2/N` when read; SparseGPT's running update
/// `H ← H·n/(n+b); H += (2/(n+b))·XᵀX` ends at the same `(2/N)·Σ x xᵀ` (up to rounding).
///
/// Memory: `in²` floats per kept input (LLaMA-7B down: 11008² ≈ 485 MB). Keep only the roles of
/// the sublayer about to be pruned with `roles:`.
public final class HessianObserver: LinearInputObserver {
    private final class Accumulator {
        var sum: [Float]    // [in, in], upper triangle current, lower stale until read
        var calls = 0
        let size: Int
        init(size: Int) {
            self.size = size
            sum = [Float](repeating: 0, count: size * size)
        }
    }

    private let keptRoles: Set<TensorRole>?
    private let sequenceCount: Int?
    private let threads: ComputeThreads
    private var accumulators: [TensorRole: Accumulator] = [:]

    /// - Parameters:
    ///   - roles: the linear layers whose Hessians are kept; nil keeps all seven.
    ///   - sequenceCount: the `N` of `2/N`; nil counts `observe` calls.
    ///   - threads: the accumulation's threads (no bit depends on them).
    public init(roles: Set<TensorRole>? = nil, sequenceCount: Int? = nil, threads: ComputeThreads = .single) {
        precondition(sequenceCount.map { $0 > 0 } ?? true, "sequence count must be positive")
        keptRoles = roles
        self.threads = threads
        self.sequenceCount = sequenceCount
    }

    /// Adds `XᵀX` of one input (`[tokens, inputSize]`) to the accumulator its kept roles share.
    public func observe(_ input: UnsafePointer<Float>, tokens: Int, inputSize: Int, roles: [TensorRole]) {
        let kept = roles.filter { keptRoles?.contains($0) ?? true }
        guard let first = kept.first else { return }
        let accumulator = accumulators[first] ?? Accumulator(size: inputSize)
        precondition(accumulator.size == inputSize, "\(first): input size changed")
        for role in kept { accumulators[role] = accumulator }
        accumulator.sum.withUnsafeMutableBufferPointer { h in
            guard let hp = h.baseAddress else { return }
            GEMM.gramUpdate(input, rows: tokens, columns: inputSize, alpha: 1, beta: 1, into: hp, mirror: false, threads: threads)
        }
        accumulator.calls += 1
    }

    /// `H = (2/N)·Σ x xᵀ` for `role`, full symmetric. `[in, in]`
    public func hessian(for role: TensorRole) throws -> Matrix {
        guard let accumulator = accumulators[role] else {
            throw PruningError.missingStatistics(role: role.rawValue, statistic: "Hessian")
        }
        return finalize(accumulator.sum, accumulator)
    }

    /// Like ``hessian(for:)`` but forgets `role`; when no other kept role shares the input, the
    /// accumulated storage is handed over without a copy and the observer stops holding it.
    public func takeHessian(for role: TensorRole) throws -> Matrix {
        guard let accumulator = accumulators.removeValue(forKey: role) else {
            throw PruningError.missingStatistics(role: role.rawValue, statistic: "Hessian")
        }
        if accumulators.values.contains(where: { $0 === accumulator }) {
            return finalize(accumulator.sum, accumulator)
        }
        let storage = accumulator.sum
        accumulator.sum = []
        return finalize(storage, accumulator)
    }

    private func finalize(_ storage: consuming [Float], _ accumulator: Accumulator) -> Matrix {
        let n = sequenceCount ?? accumulator.calls
        let size = accumulator.size
        var values = storage
        let scale = Float(2.0 / Double(max(n, 1)))
        values.withUnsafeMutableBufferPointer { p in
            guard let base = p.baseAddress else { return }
            GEMM.mirrorUpperTriangle(base, size: size)
            for i in 0..<p.count { base[i] *= scale }
        }
        return Matrix(rows: size, columns: size, storage: values)
    }

    /// The roles with a recorded Hessian.
    public var recordedRoles: Set<TensorRole> { Set(accumulators.keys) }

    /// Forgets everything.
    public func reset() { accumulators.removeAll() }
}
