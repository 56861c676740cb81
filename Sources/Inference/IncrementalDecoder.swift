import Foundation
import Kernels
import Sparse
import TensorCore
import Transformer

/// One decoder block as the incremental decoder runs it: the norms and biases in `Float`, the
/// seven linears behind ``LinearOperator``.
public struct DecodingBlock: Sendable {
    public var attentionNorm: [Float]
    public var feedForwardNorm: [Float]
    public var query: any LinearOperator
    public var key: any LinearOperator
    public var value: any LinearOperator
    public var attentionOutput: any LinearOperator
    public var gate: any LinearOperator
    public var up: any LinearOperator
    public var down: any LinearOperator
    public var queryBias: [Float]?
    public var keyBias: [Float]?
    public var valueBias: [Float]?

    /// The linears with their roles, in execution order.
    public var linears: [(role: TensorRole, operator: any LinearOperator)] {
        [(.query, query), (.key, key), (.value, value), (.attentionOutput, attentionOutput), (.gate, gate), (.up, up),
         (.down, down)]
    }
}

/// Text generation's forward pass: a key/value cache per block and a forward over the next few
/// tokens (a prompt's prefill, or one generated token) that attends to everything cached.
///
/// Each call to ``feed(_:)`` runs its tokens at positions `position ..< position + T`, appends their
/// keys and values to the cache and returns the logits after the last one. Several tokens take the
/// GEMM path of every linear, one token the matrix–vector path. Not thread-safe: one sequence.
public final class IncrementalDecoder: @unchecked Sendable {
    public let configuration: ModelConfiguration
    public let blocks: [DecodingBlock]
    /// The LM head `[V, D]`.
    public let head: any LinearOperator
    /// Longest sequence (prompt + generated tokens) the cache holds.
    public let capacity: Int
    /// Most tokens one forward call runs at once (longer inputs are split).
    public let chunk: Int
    /// Threads for the matrix–vector products and attention.
    public let threads: ComputeThreads
    /// Tokens in the cache.
    public private(set) var position = 0
    /// When set, time per part is added here.
    public var profile: DecodeProfile?

    let embedding: Matrix
    let finalNorm: [Float]
    let rotary: RotaryEmbedding
    let convention: RotaryConvention
    let tileRows: Int
    private let buffers: [UnsafeMutablePointer<Float>]
    private let keys: [UnsafeMutablePointer<Float>]      // per block [capacity, K·d]
    private let values: [UnsafeMutablePointer<Float>]    // per block [capacity, K·d]
    private let hidden, normed, query, context, gate, up, output, scratch, logits, decodeScores: UnsafeMutablePointer<Float>

    /// - Parameters: `embedding` `[V, D]` (token lookup); `head` `[V, D]`; `capacity` positions.
    public init(configuration c: ModelConfiguration, blocks: [DecodingBlock], embedding: Matrix, head: any LinearOperator,
                finalNorm: [Float], convention: RotaryConvention, capacity: Int, chunk: Int = 256,
                threads: ComputeThreads = .single) throws {
        precondition(blocks.count == c.layerCount, "decoder: \(blocks.count) blocks for \(c.layerCount) layers")
        precondition(capacity > 0 && chunk > 0, "decoder capacity and chunk must be positive")
        configuration = c
        self.blocks = blocks
        self.embedding = embedding
        self.head = head
        self.finalNorm = finalNorm
        self.capacity = capacity
        self.chunk = min(chunk, capacity)
        self.threads = threads
        self.convention = convention
        rotary = try RotaryEmbedding(base: Double(c.ropeTheta), headDimension: c.headDimension, maxPositions: capacity,
                                     scaling: c.ropeScaling)
        tileRows = min(64, self.chunk)
        let q = c.headCount * c.headDimension, kv = c.keyValueHeadCount * c.headDimension
        let n = self.chunk
        let sizes = [n * c.hiddenSize, n * c.hiddenSize, n * q, n * q, n * c.intermediateSize, n * c.intermediateSize,
                     n * c.hiddenSize,
                     threads.count * Attention.scratchPerWorker(configuration: c, tileRows: tileRows, capacity: capacity),
                     c.vocabularySize, c.headCount * capacity]
        let cacheSizes = Array(repeating: capacity * kv, count: 2 * c.layerCount)
        let all = (sizes + cacheSizes).map { size -> UnsafeMutablePointer<Float> in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(size, 1))
            p.initialize(repeating: 0, count: max(size, 1))
            return p
        }
        buffers = all
        (hidden, normed, query, context, gate, up, output, scratch, logits, decodeScores) =
            (all[0], all[1], all[2], all[3], all[4], all[5], all[6], all[7], all[8], all[9])
        keys = Array(all[10..<(10 + c.layerCount)])
        values = Array(all[(10 + c.layerCount)...])
    }

    deinit { for b in buffers { b.deallocate() } }

    /// Empties the cache (a new sequence starts at position 0).
    public func reset() { position = 0 }

    /// Bytes of weights one generated token reads: every block linear and the LM head (the
    /// embedding row and norms are negligible).
    public var weightBytesPerToken: Int { head.weightBytes + blockLinearBytes }

    /// Bytes of the block linears' storage.
    public var blockLinearBytes: Int {
        blocks.reduce(0) { sum, b in sum + b.linears.reduce(0) { $0 + $1.operator.weightBytes } }
    }

    /// Bytes of the key/value cache.
    public var cacheBytes: Int { 2 * configuration.layerCount * capacity * configuration.keyValueHeadCount * configuration.headDimension * 4 }

    /// Runs `tokens` at the next positions and returns the logits after the last (`[V]`).
    /// Throws if a token id is out of range or the cache would overflow (nothing is run then).
    public func feed(_ tokens: [Int32]) throws -> [Float] {
        precondition(!tokens.isEmpty, "decoder: feed at least one token")
        let v = configuration.vocabularySize
        if let bad = tokens.firstIndex(where: { $0 < 0 || Int($0) >= v }) {
            throw DecodeError.tokenOutOfRange(id: Int(tokens[bad]), vocabulary: v)
        }
        guard position + tokens.count <= capacity else {
            throw DecodeError.contextFull(capacity: capacity, requested: position + tokens.count)
        }
        var start = 0
        while start < tokens.count {
            let n = min(chunk, tokens.count - start)
            forward(Array(tokens[start..<(start + n)]))
            start += n
        }
        return [Float](UnsafeBufferPointer(start: logits, count: v))
    }

    /// One chunk of at most `chunk` tokens: embed, every block, then the head on the last row.
    private func forward(_ tokens: [Int32]) {
        let c = configuration, d = c.hiddenSize, t = tokens.count
        embedding.storage.withUnsafeBufferPointer { table in
            for (i, id) in tokens.enumerated() { (hidden + i * d).update(from: table.baseAddress! + Int(id) * d, count: d) }
        }
        for (index, block) in blocks.enumerated() { run(block, index: index, tokens: t) }
        profile.measure(.head) {
            RMSNormKernel.apply(input: hidden + (t - 1) * d, rows: 1, columns: d, weight: finalNorm,
                                epsilon: c.rmsNormEpsilon, output: normed)
            head.apply(normed, tokens: 1, into: logits, threads: threads)
        }
        position += t
    }

    private func run(_ b: DecodingBlock, index: Int, tokens t: Int) {
        let c = configuration, d = c.hiddenSize, f = c.intermediateSize, p = position
        let kv = c.keyValueHeadCount * c.headDimension
        let newKeys = keys[index] + p * kv, newValues = values[index] + p * kv
        profile.measure(.norms) {
            RMSNormKernel.apply(input: hidden, rows: t, columns: d, weight: b.attentionNorm, epsilon: c.rmsNormEpsilon, output: normed)
        }
        profile.measure(.query) { linear(b.query, normed, t, query, bias: b.queryBias) }
        profile.measure(.key) { linear(b.key, normed, t, newKeys, bias: b.keyBias) }
        profile.measure(.value) { linear(b.value, normed, t, newValues, bias: b.valueBias) }
        profile.measure(.rope) {
            rotary.apply(to: query, tokens: t, headCount: c.headCount, startPosition: p, convention: convention)
            rotary.apply(to: newKeys, tokens: t, headCount: c.keyValueHeadCount, startPosition: p, convention: convention)
        }
        profile.measure(.attention) {
            if t == 1 {
                DecodeAttention.apply(query: query, key: keys[index], value: values[index], context: context, positions: p + 1,
                                      configuration: c, scores: decodeScores, stride: capacity, threads: threads)
            } else {
                Attention.apply(query: query, key: keys[index], value: values[index], context: context, tokens: t, prefix: p,
                                configuration: c, scratch: scratch, capacity: capacity, tileRows: tileRows, threads: threads)
            }
        }
        profile.measure(.attentionOutput) {
            b.attentionOutput.apply(context, tokens: t, into: output, threads: threads)
            ElementwiseKernel.add(output, into: hidden, count: t * d)
        }
        profile.measure(.norms) {
            RMSNormKernel.apply(input: hidden, rows: t, columns: d, weight: b.feedForwardNorm, epsilon: c.rmsNormEpsilon, output: normed)
        }
        profile.measure(.gate) { b.gate.apply(normed, tokens: t, into: gate, threads: threads) }
        profile.measure(.up) { b.up.apply(normed, tokens: t, into: up, threads: threads) }
        profile.measure(.down) {
            ActivationKernel.swiGLU(gate: gate, up: up, output: gate, count: t * f)
            b.down.apply(gate, tokens: t, into: output, threads: threads)
            ElementwiseKernel.add(output, into: hidden, count: t * d)
        }
    }

    private func linear(_ op: any LinearOperator, _ x: UnsafePointer<Float>, _ t: Int, _ y: UnsafeMutablePointer<Float>,
                        bias: [Float]?) {
        op.apply(x, tokens: t, into: y, threads: threads)
        guard let bias else { return }
        let n = op.outputSize
        for r in 0..<t { ElementwiseKernel.add(bias, into: y + r * n, count: n) }
    }
}

/// Why the decoder refused a call.
public enum DecodeError: Error, Equatable, CustomStringConvertible {
    case tokenOutOfRange(id: Int, vocabulary: Int)
    case contextFull(capacity: Int, requested: Int)

    public var description: String {
        switch self {
        case let .tokenOutOfRange(id, vocabulary):
            return "token id \(id) is outside the vocabulary (0..<\(vocabulary))"
        case let .contextFull(capacity, requested):
            return "the sequence would reach \(requested) tokens, the decoder holds \(capacity); start with a larger context (--context) or a shorter prompt"
        }
    }
}

/// Wall time per part of the decoder (``IncrementalDecoder/profile``).
public typealias DecodeProfile = PartProfile<DecodePart>

/// The parts of the decoder, in execution order.
public enum DecodePart: String, CaseIterable, Sendable {
    case norms, query = "q", key = "k", value = "v", rope, attention, attentionOutput = "o",
         gate, up, down = "swiGLU + down", head = "final norm + LM head"
}
