import Transformer

/// Accumulates Wanda's squared input norm per input feature of each linear layer:
/// `s_j = Σ_tokens x_j² / N`, in Double (DLP-METHOD §3 step 1; same statistic as Wanda's
/// `scaler_row`).
///
/// Normalisation: per **sequence**. `N` is the number of `observe` calls that included the role
/// (the pipeline calls `observe` once per calibration sequence per input group), or the
/// `sequenceCount` given at initialisation when one call carries several sequences. Only ratios
/// between features and blocks matter to Wanda and DLP, but the per-sequence division keeps the
/// values comparable with the reference.
public final class InputNormObserver: LinearInputObserver {
    private var sums: [TensorRole: [Double]] = [:]     // [inputSize] per role
    private var calls: [TensorRole: Int] = [:]
    private let sequenceCount: Int?

    /// - Parameter sequenceCount: the `N` to divide by; nil counts `observe` calls per role.
    public init(sequenceCount: Int? = nil) {
        precondition(sequenceCount.map { $0 > 0 } ?? true, "sequence count must be positive")
        self.sequenceCount = sequenceCount
    }

    /// Adds `Σ_t x_tj²` of one input (`[tokens, inputSize]`) to every role that consumes it.
    public func observe(_ input: UnsafePointer<Float>, tokens: Int, inputSize: Int, roles: [TensorRole]) {
        guard let first = roles.first else { return }
        var sum = sums[first] ?? [Double](repeating: 0, count: inputSize)
        precondition(sum.count == inputSize, "\(first): input size changed from \(sum.count) to \(inputSize)")
        sum.withUnsafeMutableBufferPointer { s in
            for t in 0..<tokens {
                let row = input + t * inputSize
                for j in 0..<inputSize {
                    let x = Double(row[j])
                    s[j] += x * x
                }
            }
        }
        for role in roles {
            sums[role] = sum
            calls[role, default: 0] += 1
        }
    }

    /// The number of sequences `N` the norms of `role` are divided by (0 if never observed).
    public func sequences(for role: TensorRole) -> Int { sequenceCount ?? calls[role] ?? 0 }

    /// `s_j = Σ x_j² / N` for the linear layer `role`. `[inputSize]`
    public func squaredNorms(for role: TensorRole) throws -> [Double] {
        guard let sum = sums[role], sequences(for: role) > 0 else {
            throw PruningError.missingStatistics(role: role.rawValue, statistic: "input norms")
        }
        let n = Double(sequences(for: role))
        return sum.map { $0 / n }
    }

    /// Forgets everything (to reuse the observer for the next block).
    public func reset() {
        sums.removeAll()
        calls.removeAll()
    }
}
