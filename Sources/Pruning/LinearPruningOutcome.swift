/// What pruning one matrix did: the mask it chose, the counts it promises (for
/// ``SparsityVerifier``), and SparseGPT's numerical diagnostics.
public struct LinearPruningOutcome: Sendable, Equatable {
    /// The weights the pruner removed (set to zero).
    public var mask: PruningMask
    /// The exact counts `mask` satisfies.
    public var requirement: SparsityRequirement
    /// SparseGPT, or the GPTQ loop of joint quantization: damping, dead inputs and the OBS loss estimate.
    public var sparseGPT: SparseGPTDiagnostics?
}

/// Numerical facts of one SparseGPT run, for the manifest (nothing is adjusted silently).
public struct SparseGPTDiagnostics: Sendable, Equatable, Codable {
    /// The damping fraction finally used: `λ = dampingFraction · mean(diag H)`.
    public var dampingFraction: Double
    /// How many times the damping was raised ×10 because a Cholesky factorization failed.
    public var dampingRaises: Int
    /// The failures that caused the raises, in order (e.g. "Cholesky of H failed at order 17").
    public var failures: [String]
    /// Inputs with `H_jj = 0` (never active): their column was zeroed.
    public var deadInputs: Int
    /// SparseGPT's loss estimate `½ Σ (w − q)² / U_jj²` over all pruned weights (and, with joint
    /// quantization, over the quantized kept weights too).
    public var estimatedLoss: Double
}
