import Foundation
import Kernels
import Synchronization
import TensorCore

/// A decoder ready to run: the embedding, the final norm and LM head decoded once, the blocks
/// decoded on demand (``layer(_:)``), so callers walk the model block by block (embed → block
/// `0..<L` → ``negativeLogLikelihoods(_:tokens:targets:threads:)``). A model built without its
/// head (``init(checkpoint:maxSequenceLength:decodesHead:blockWeights:)``) embeds and runs blocks
/// only: what calibration and pruning need; it decodes the embedding rows of the tokens it
/// embeds from a GGUF file's mapping as it goes, never the whole `[V, D]` table.
public final class LanguageModel: Sendable {
    public let checkpoint: Checkpoint
    public let configuration: ModelConfiguration
    /// Cos/sin tables for positions `0..<maxSequenceLength`.
    public let rotary: RotaryEmbedding
    /// Longest sequence the model will be asked to run.
    public let maxSequenceLength: Int
    let embedding: Matrix?           // [V, D]; nil when not decoded (a model without its head)
    /// Decodes one embedding row (from `embedding`, or from the checkpoint when it is nil).
    let embeddingRow: @Sendable (Int, UnsafeMutablePointer<Float>) -> Void
    let head: Matrix?                // [V, D]; nil when tied to the embedding or not decoded
    /// Whether the LM head is available (the model was built with `decodesHead`).
    public let hasHead: Bool
    let finalNorm: [Float]           // [D]
    /// Where block weights come from: the checkpoint, or replacements (a pruned model).
    let blockWeights: @Sendable (Int) throws -> BlockWeights
    /// The LM head packed for bf16, on first use (shared by models that share the head).
    private let packedHead: PackedHead

    /// Decodes the model-level tensors of `checkpoint` for sequences of up to `maxSequenceLength`.
    /// `decodesHead: false` leaves the LM head in the file and, for a GGUF file, the embedding too
    /// (rows are decoded per token): a pass that never computes logits (calibration, pruning)
    /// saves up to `2·V·D` floats (LLaMA-3-8B: 4.2 GB), and the logit methods must not be called. `blockWeights`, when given, supplies the blocks instead of the
    /// checkpoint (pruned weights).
    public init(checkpoint: Checkpoint, maxSequenceLength: Int, decodesHead: Bool = true,
                blockWeights: (@Sendable (Int) throws -> BlockWeights)? = nil) throws {
        let c = checkpoint.configuration
        self.checkpoint = checkpoint
        configuration = c
        self.maxSequenceLength = maxSequenceLength
        rotary = try RotaryEmbedding(base: Double(c.ropeTheta), headDimension: c.headDimension,
                                     maxPositions: maxSequenceLength, scaling: c.ropeScaling)
        let d = c.hiddenSize
        if !decodesHead, let rows = try checkpoint.source.rowDecoder(TensorRole.tokenEmbedding.name(in: checkpoint.format, block: 0),
                                                                     columns: d) {
            embedding = nil
            embeddingRow = rows
        } else {
            let table = try checkpoint.tokenEmbedding()
            embedding = table
            embeddingRow = { r, out in
                table.storage.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + r * d, count: d) }
            }
        }
        head = c.tiedEmbeddings || !decodesHead ? nil : try checkpoint.outputHead()
        hasHead = decodesHead
        finalNorm = try checkpoint.outputNorm()
        self.blockWeights = blockWeights ?? { try checkpoint.block($0) }
        packedHead = PackedHead()
    }

    /// The same model with its blocks taken from `blockWeights` (a pruned model) and, when given,
    /// another final norm gain (`[D]`, a fine-tuned one): the decoded embedding, LM head and
    /// rotary tables are shared, not decoded again.
    public func replacingBlocks(_ blockWeights: @escaping @Sendable (Int) throws -> BlockWeights,
                                finalNorm: [Float]? = nil) -> LanguageModel {
        LanguageModel(sharing: self, blockWeights: blockWeights, finalNorm: finalNorm)
    }

    private init(sharing other: LanguageModel, blockWeights: @escaping @Sendable (Int) throws -> BlockWeights,
                 finalNorm: [Float]?) {
        precondition(finalNorm.map { $0.count == other.configuration.hiddenSize } ?? true, "final norm gain of the wrong size")
        checkpoint = other.checkpoint
        configuration = other.configuration
        maxSequenceLength = other.maxSequenceLength
        rotary = other.rotary
        embedding = other.embedding
        embeddingRow = other.embeddingRow
        head = other.head
        hasHead = other.hasHead
        self.finalNorm = finalNorm ?? other.finalNorm
        self.blockWeights = blockWeights
        packedHead = other.packedHead
    }

    /// Block `index`, decoded from the checkpoint (or taken from the replacement weights).
    public func layer(_ index: Int) throws -> DecoderLayer {
        DecoderLayer(weights: try blockWeights(index), configuration: configuration, rotary: rotary,
                     convention: checkpoint.rotaryConvention)
    }

    /// Writes the embeddings of `tokens` to `hidden` (`[T, D]`). Ids must be in `0..<V`.
    public func embed(_ tokens: [Int32], into hidden: UnsafeMutablePointer<Float>) throws {
        let d = configuration.hiddenSize
        for (t, id) in tokens.enumerated() {
            guard id >= 0, Int(id) < configuration.vocabularySize else {
                throw ModelError.invalidValue(key: "token[\(t)]", value: "\(id)", origin: checkpoint.url.path,
                                              reason: "token ids must lie in 0..<\(configuration.vocabularySize)")
            }
            embeddingRow(Int(id), hidden + t * d)
        }
    }

    /// Final norm and LM head over `hidden` (`[T, D]`, not modified): for each position `t` with
    /// `targets[t] >= 0`, `−log softmax(logits[t])[targets[t]]` in Double; other positions give 0.
    /// Logits are computed `rows` at a time (`[rows, V]` scratch), never for the whole window.
    /// With `precision` bf16 the head's product runs in bf16 (f32 accumulation); the
    /// log-softmax stays f32/Double. `fused` (default): head and log-softmax by vocabulary tiles
    /// (``FusedLogSoftmaxHead``, no `[rows, V]` logits, the same bits for any thread count);
    /// `false`: the twin, whole logits rows then ``SoftmaxKernel/logSumExp(_:count:)``.
    public func negativeLogLikelihoods(_ hidden: UnsafePointer<Float>, tokens t: Int, targets: [Int32],
                                       threads: ComputeThreads, rows chunk: Int = 128,
                                       precision: ComputePrecision = .f32, fused: Bool = true) -> [Double] {
        precondition(targets.count == t, "one target per position")
        precondition(precision.unsupportedReason == nil, precision.unsupportedReason ?? "")
        precondition(hasHead, "the model was built without its LM head (decodesHead: false)")
        let c = configuration, d = c.hiddenSize, v = c.vocabularySize
        let head = (self.head ?? embedding)!
        var result = [Double](repeating: 0, count: t)
        if fused {
            let normed = UnsafeMutablePointer<Float>.allocate(capacity: chunk * d)
            defer { normed.deallocate() }
            let weight: FusedLogSoftmaxHead.Weight? = precision == .bf16 ? .bf16(packedHead.weight(head)) : nil
            head.storage.withUnsafeBufferPointer { hb in
                targets.withUnsafeBufferPointer { tb in
                    result.withUnsafeMutableBufferPointer { rb in
                        for r0 in stride(from: 0, to: t, by: chunk) {
                            let rows = min(chunk, t - r0)
                            RMSNormKernel.apply(input: hidden + r0 * d, rows: rows, columns: d, weight: finalNorm,
                                                epsilon: c.rmsNormEpsilon, output: normed)
                            FusedLogSoftmaxHead.negativeLogLikelihoods(
                                normed, rows: rows, inputSize: d, weight: weight ?? .f32(hb.baseAddress!), vocabulary: v,
                                targets: tb.baseAddress! + r0, output: rb.baseAddress! + r0, threads: threads)
                        }
                    }
                }
            }
            return result
        }
        let normed = UnsafeMutablePointer<Float>.allocate(capacity: chunk * d)
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: chunk * v)
        let bf16 = precision == .bf16 ? packedHead.weight(head) : nil
        let scratch = UnsafeMutablePointer<UInt16>.allocate(capacity: bf16 == nil ? 1 : GEMM.bf16ScratchCount(tokens: chunk, inputSize: d))
        defer { normed.deallocate(); logits.deallocate(); scratch.deallocate() }
        head.storage.withUnsafeBufferPointer { hb in
            result.withUnsafeMutableBufferPointer { rb in
                let (la, ra) = (UInt(bitPattern: logits), UInt(bitPattern: rb.baseAddress!))
                for r0 in stride(from: 0, to: t, by: chunk) {
                    let rows = min(chunk, t - r0)
                    RMSNormKernel.apply(input: hidden + r0 * d, rows: rows, columns: d, weight: finalNorm,
                                        epsilon: c.rmsNormEpsilon, output: normed)
                    if let bf16 {
                        GEMM.linearBF16(input: normed, tokens: rows, weight: bf16, output: logits, threads: threads, scratch: scratch)
                    } else {
                        GEMM.linear(input: normed, tokens: rows, inputSize: d, weight: hb.baseAddress!, outputSize: v,
                                    output: logits)
                    }
                    // Each worker reads its own logits rows and writes its own result entries.
                    parallelFor(0..<rows, threads: threads) { range in
                        let logits = UnsafePointer<Float>(bitPattern: la)!
                        let out = UnsafeMutablePointer<Double>(bitPattern: ra)!
                        for i in range where targets[r0 + i] >= 0 {
                            let row = logits + i * v
                            out[r0 + i] = SoftmaxKernel.logSumExp(row, count: v) - Double(row[Int(targets[r0 + i])])
                        }
                    }
                }
            }
        }
        return result
    }

    /// Logits at the given positions of `hidden` (`[T, D]`, after the last block). `[rows.count, V]`
    public func logits(_ hidden: UnsafePointer<Float>, rows: [Int]) -> Matrix {
        precondition(hasHead, "the model was built without its LM head (decodesHead: false)")
        let c = configuration, d = c.hiddenSize
        var normed = Matrix(rows: rows.count, columns: d)
        for (i, r) in rows.enumerated() {
            normed.storage.withUnsafeMutableBufferPointer { nb in
                RMSNormKernel.apply(input: hidden + r * d, rows: 1, columns: d, weight: finalNorm,
                                    epsilon: c.rmsNormEpsilon, output: nb.baseAddress! + i * d)
            }
        }
        return GEMM.linear(normed, weight: (head ?? embedding)!)
    }
}

/// An LM head packed for bf16 the first time it is needed (thread-safe).
final class PackedHead: Sendable {
    private let packed = Mutex<PackedBF16Weight?>(nil)

    func weight(_ head: Matrix) -> PackedBF16Weight {
        packed.withLock { packed in
            if let packed { return packed }
            let made = PackedBF16Weight(head)
            packed = made
            return made
        }
    }
}
