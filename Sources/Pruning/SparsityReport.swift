import TensorCore

/// Counting exact zeros of the block linears (DLP-METHOD §2: embeddings, LM head and norms are
/// not counted). Per-matrix and per-block counts live in ``PruningPipeline/BlockResult`` and the
/// manifest's ``PruningManifest/BlockOutcome``.
public enum SparsityReport {
    /// Exact zeros (`±0`) of a matrix.
    public static func zeroCount(_ w: Matrix) -> Int { w.storage.reduce(0) { $0 + ($1 == 0 ? 1 : 0) } }
}
