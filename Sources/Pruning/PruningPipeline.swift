import Foundation
import Kernels
import TensorCore
import Transformer

/// The sequential layer-wise procedure of Wanda, SparseGPT, OWL and DLP (`DLP-METHOD.md` §3, §5),
/// walking the model block by block over the calibration windows:
///
/// 1. **Allocation pass** (DLP, OWL): the calibration windows run through the *dense* model;
///    block `l`'s input norms (``InputNormObserver``) and weights give its pooled-score
///    statistics (``BlockScoreStatistics``), from which an allocation computes per-block ratios.
/// 2. **Pruning pass**: block `l` first runs on the outputs of the already-pruned blocks
///    `0..<l` with the observers its pruner needs (on a copy, so its inputs stay), each of its
///    seven linears is pruned to block `l`'s target and verified, and the pruned block is re-run
///    in place to produce block `l + 1`'s inputs.
///
/// With joint quantization (``LinearPruner/quantization``) the pruned block that feeds block
/// `l + 1` holds the quantized weights, so later blocks are calibrated on the quantized model.
///
/// Memory: one `[N·T, D]` activation buffer (blocks run in place) plus one sequence of scratch,
/// one block's weights and its observers.
public final class PruningPipeline {
    public let model: LanguageModel
    public let windows: [[Int32]]
    public let threads: ComputeThreads

    /// Where the pipeline stands: `phase` ("allocation pass", "pruning pass"), `block` of `blocks` finished.
    public struct Progress: Sendable {
        public var phase: String
        public var block: Int
        public var blocks: Int
        /// Calibration tokens one finished block stands for (every forward of every window through it);
        /// divided by `blocks`, whole-model tokens, for a tokens/s figure.
        public var tokensPerBlock: Int
        /// Where the finished block's time went.
        public var seconds: BlockSeconds
    }

    /// Wall seconds of one block in one pass, split by how each part scales with the calibration
    /// set: `forward` and `observers` grow linearly with the number of windows (attention's share
    /// of `forward` also linearly with the window length, the rest with the tokens); `decode`,
    /// `scoring` and `store` do not depend on the calibration set (SparseGPT's inverse Hessian
    /// factor and column loop, Wanda's row selection, DLP's pooled-score statistics).
    public struct BlockSeconds: Sendable, Codable, Equatable {
        /// Decoding the block's weights from the checkpoint into `Float`.
        public var decode: Double
        /// The block's forward passes over every window, observers excluded: the allocation pass
        /// runs one, the pruning pass two (observed, then pruned to feed the next block).
        public var forward: Double
        /// The observers' accumulation: squared input norms, SparseGPT's `Σ x xᵀ`.
        public var observers: Double
        /// Allocation pass: the pooled-score statistics; pruning pass: the pruner and the
        /// verification of the seven linears.
        public var scoring: Double
        /// Writing the pruned block to the ``PrunedWeightStore`` (pruning pass).
        public var store: Double

        public init(decode: Double = 0, forward: Double = 0, observers: Double = 0, scoring: Double = 0, store: Double = 0) {
            self.decode = decode
            self.forward = forward
            self.observers = observers
            self.scoring = scoring
            self.store = store
        }

        public var total: Double { decode + forward + observers + scoring + store }

        /// Part-wise sum.
        public static func + (a: BlockSeconds, b: BlockSeconds) -> BlockSeconds {
            BlockSeconds(decode: a.decode + b.decode, forward: a.forward + b.forward, observers: a.observers + b.observers,
                         scoring: a.scoring + b.scoring, store: a.store + b.store)
        }
    }

    /// What pruning did to one block.
    public struct BlockResult: Sendable {
        public var block: Int
        public var target: SparsityTarget
        /// Zeros and element counts per linear, ``TensorRole/linears`` order: the zeros of the
        /// written weights, or with joint quantization those of the pruning mask.
        public var zeros: [Int]
        public var counts: [Int]
        /// Joint quantization only: the zeros of the written weights per linear, a superset of the
        /// mask's (kept weights that quantized to 0, dead inputs); nil otherwise.
        public var storedZeros: [Int]?
        public var notes: [String]
        /// Where the block's time went in the pruning pass.
        public var seconds: BlockSeconds

        public var sparsity: Double { Double(zeros.reduce(0, +)) / Double(max(counts.reduce(0, +), 1)) }
    }

    /// The number format of the block linears' products in the calibration forward passes; the
    /// statistics pruning measures (input norms, Hessians, scores) are f32 either way.
    public let precision: ComputePrecision

    public init(model: LanguageModel, windows: [[Int32]], threads: ComputeThreads, precision: ComputePrecision = .f32) {
        precondition(!windows.isEmpty, "calibration needs at least one window")
        self.model = model
        self.windows = windows
        self.threads = threads
        self.precision = precision
    }

    private var tokens: Int { windows[0].count }

    private func embedded() throws -> ActivationBuffer {
        let buffer = ActivationBuffer(sequences: windows.count, tokens: tokens, hiddenSize: model.configuration.hiddenSize)
        try model.embed(windows, into: buffer)
        return buffer
    }

    /// Allocation pass over the dense model: per-block statistics of the pooled Wanda scores.
    public func blockStatistics(outlierThreshold: Double = 5,
                                progress: (Progress) -> Void = { _ in }) throws -> [BlockScoreStatistics] {
        threads.applyToBLAS()
        let c = model.configuration
        let buffer = try embedded()
        let workspace = BlockWorkspace(configuration: c, capacity: tokens, threads: threads, precision: precision)
        var statistics = [BlockScoreStatistics]()
        for l in 0..<c.layerCount {
            var seconds = BlockSeconds()
            let layer = try timed(&seconds.decode) { try model.layer(l) }
            let norms = InputNormObserver(sequenceCount: windows.count)
            let observer = TimedObserver(norms)
            timed(&seconds.forward) {
                for s in 0..<windows.count {
                    layer.forward(buffer.sequence(s), tokens: tokens, workspace: workspace, observer: observer)
                }
            }
            seconds.observers = observer.seconds
            seconds.forward -= observer.seconds
            statistics.append(try timed(&seconds.scoring) {
                try BlockScoreStatistics.compute(weights: layer.weights, inputNorms: norms, block: l,
                                                 outlierThreshold: outlierThreshold, threads: threads)
            })
            progress(Progress(phase: "allocation pass", block: l + 1, blocks: c.layerCount, tokensPerBlock: windows.count * tokens,
                              seconds: seconds))
        }
        return statistics
    }

    /// Pruning pass: prunes every block to `targets.targets[l]` with `pruner`, verifies each
    /// linear, saves the pruned block to `store`, and re-runs it to feed the next block.
    public func prune(targets: BlockTargets, pruner: LinearPruner, store: PrunedWeightStore,
                      progress: (Progress) -> Void = { _ in }) throws -> [BlockResult] {
        threads.applyToBLAS()
        let c = model.configuration, t = tokens, d = c.hiddenSize
        precondition(targets.targets.count == c.layerCount, "one target per block")
        let need = pruner.calibrationNeed
        // A pruner that needs no calibration (magnitude) never runs the model.
        let buffer: ActivationBuffer? = need == .none ? nil : try embedded()
        let workspace = BlockWorkspace(configuration: c, capacity: t, threads: threads, precision: precision)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: t * d)
        defer { scratch.deallocate() }
        var results = [BlockResult]()
        for l in 0..<c.layerCount {
            var seconds = BlockSeconds()
            var layer = try timed(&seconds.decode) { try model.layer(l) }
            let norms = need == .inputNorms || need == .inputNormsAndHessian ? InputNormObserver(sequenceCount: windows.count) : nil
            let hessians = need == .hessian || need == .inputNormsAndHessian ? HessianObserver(sequenceCount: windows.count, threads: threads) : nil
            let observer: TimedObserver? = if let norms, let hessians { TimedObserver(ObserverPair(norms, hessians)) }
                else if let norms { TimedObserver(norms) } else { hessians.map { TimedObserver($0) } }
            if let observer, let buffer {
                timed(&seconds.forward) {
                    for s in 0..<windows.count {
                        scratch.update(from: buffer.sequence(s), count: t * d)
                        layer.forward(scratch, tokens: t, workspace: workspace, observer: observer, outputNeeded: false)
                    }
                }
                seconds.observers = observer.seconds
                seconds.forward -= observer.seconds
            }
            let pruningStart = DispatchTime.now().uptimeNanoseconds
            var weights = layer.weights
            var zeros = [Int](), counts = [Int](), storedZeros = [Int](), notes = [String]()
            for role in TensorRole.linears {
                let name = role.name(in: model.checkpoint.format, block: l)
                let calibration: LinearCalibration
                switch need {
                case .none: calibration = .none
                case .inputNorms: calibration = .inputNorms(try norms!.squaredNorms(for: role))
                case .hessian: calibration = .hessian(try hessians!.takeHessian(for: role))
                case .inputNormsAndHessian:
                    calibration = .inputNormsAndHessian(try norms!.squaredNorms(for: role), try hessians!.takeHessian(for: role))
                }
                var matrix = weights[linear: role]
                let outcome = try pruner.prune(&matrix, target: targets.targets[l], calibration: calibration, name: name)
                try SparsityVerifier.verify(outcome, weight: matrix, name: name)
                if let diagnostics = outcome.sparseGPT, diagnostics.dampingRaises > 0 {
                    notes.append("\(role.rawValue): Cholesky failed, damping raised \(diagnostics.dampingRaises)× to "
                                 + String(format: "%.3g", diagnostics.dampingFraction) + " of mean(diag H)")
                }
                if pruner.quantization == nil {
                    zeros.append(SparsityReport.zeroCount(matrix))
                } else {
                    zeros.append(outcome.mask.prunedCount)
                    storedZeros.append(SparsityReport.zeroCount(matrix))
                }
                counts.append(matrix.count)
                weights[linear: role] = matrix
            }
            seconds.scoring = Double(DispatchTime.now().uptimeNanoseconds - pruningStart) * 1e-9
            try timed(&seconds.store) { try store.save(weights, block: l) }
            layer.weights = weights
            if let buffer {
                timed(&seconds.forward) {
                    for s in 0..<windows.count { layer.forward(buffer.sequence(s), tokens: t, workspace: workspace) }
                }
            }
            results.append(BlockResult(block: l, target: targets.targets[l], zeros: zeros, counts: counts,
                                       storedZeros: pruner.quantization == nil ? nil : storedZeros, notes: notes,
                                       seconds: seconds))
            progress(Progress(phase: "pruning pass", block: l + 1, blocks: c.layerCount,
                              tokensPerBlock: buffer == nil ? 0 : windows.count * t * 2, seconds: seconds))
        }
        return results
    }
}

/// Adds the wall time of `body` to `seconds`.
private func timed<T>(_ seconds: inout Double, _ body: () throws -> T) rethrows -> T {
    let start = DispatchTime.now().uptimeNanoseconds
    defer { seconds += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 }
    return try body()
}

/// Passes every observed input to `base` and adds up the time `base` takes.
final class TimedObserver: LinearInputObserver {
    let base: any LinearInputObserver
    private(set) var seconds = 0.0

    init(_ base: any LinearInputObserver) { self.base = base }

    func observe(_ input: UnsafePointer<Float>, tokens: Int, inputSize: Int, roles: [TensorRole]) {
        timed(&seconds) { base.observe(input, tokens: tokens, inputSize: inputSize, roles: roles) }
    }
}

/// Hands every observed input to two observers (input norms and Hessians, for Wanda with joint
/// quantization).
final class ObserverPair: LinearInputObserver {
    let first: any LinearInputObserver
    let second: any LinearInputObserver

    init(_ first: any LinearInputObserver, _ second: any LinearInputObserver) {
        self.first = first
        self.second = second
    }

    func observe(_ input: UnsafePointer<Float>, tokens: Int, inputSize: Int, roles: [TensorRole]) {
        first.observe(input, tokens: tokens, inputSize: inputSize, roles: roles)
        second.observe(input, tokens: tokens, inputSize: inputSize, roles: roles)
    }
}
