import Foundation
import Kernels
import Sparse
import TensorCore
import Transformer

/// Prefill and decode speed of the incremental decoder with the block linears dense and sparse,
/// on the same weights and value type, in one run: prefill tokens/s, decode tokens/s, weight
/// bytes read per generated token, effective GB/s next to a plain memory read of the same run,
/// and decode time per part of the model.
public enum DecodeBenchmark {
    public struct Row: Sendable, Codable {
        public var valueType: WeightType
        /// `dense` or `sparse`.
        public var storage: String
        public var context: Int
        public var prefillTokensPerSecond: Double
        public var decodeTokensPerSecond: Double
        /// Block linears + LM head.
        public var weightBytesPerToken: Int
        public var gigabytesPerSecond: Double
        /// Milliseconds per generated token for each part of the decoder.
        public var millisecondsPerPart: [String: Double]
        /// This row's decode (prefill) speed over the dense row's, same value type and context.
        public var decodeSpeedup: Double
        public var prefillSpeedup: Double
    }

    public struct Report: Sendable, Codable {
        public var model: String
        public var cpu: String
        public var threads: Int
        /// Zeros among the block linears' weights.
        public var sparsity: Double
        public var memoryReadGigabytesPerSecond: Double
        public var generatedTokens: Int
        public var rows: [Row]
    }

    /// Measures `checkpoint` (blocks from `blockWeights` when given) at each context length:
    /// `context` prompt tokens prefilled, then `tokens` generated one at a time (greedy; the
    /// faster of two runs). `progress` receives a line per measurement.
    public static func run(_ checkpoint: Checkpoint, blockWeights: ((Int) throws -> BlockWeights)? = nil,
                           valueTypes: [WeightType], contexts: [Int], tokens: Int, threads: ComputeThreads,
                           progress: (String) -> Void = { _ in }) throws -> Report {
        threads.applyToBLAS()
        let c = checkpoint.configuration
        let capacity = (contexts.max() ?? 0) + tokens
        var generator = SeededGenerator(seed: 1)
        let prompt = (0..<(contexts.max() ?? 0)).map { _ in Int32(generator.next() % UInt64(c.vocabularySize)) }
        var rows = [Row]()
        var sparsity = 0.0
        for type in valueTypes {
            progress("loading \(type) dense and sparse")
            let decoders = try [SparseMode.off, .on].map {
                try IncrementalDecoder.load(checkpoint, settings: DecodeSettings(valueType: type, sparse: $0), capacity: capacity,
                                            threads: threads, blockWeights: blockWeights)
            }
            sparsity = decoders[1].blockSparsity
            for context in contexts {
                var measured = [Row]()
                for (decoder, storage) in zip(decoders, ["dense", "sparse"]) {
                    var best: (prefill: Double, decode: Double, parts: [String: Double]) = (0, 0, [:])
                    for _ in 0..<2 {
                        decoder.reset()
                        decoder.profile = nil
                        let t0 = DispatchTime.now().uptimeNanoseconds
                        var logits = try decoder.feed(Array(prompt.prefix(context)))
                        let t1 = DispatchTime.now().uptimeNanoseconds
                        let profile = DecodeProfile()
                        decoder.profile = profile
                        for _ in 0..<tokens { logits = try decoder.feed([Int32(Sampler.argmax(logits))]) }
                        let t2 = DispatchTime.now().uptimeNanoseconds
                        decoder.profile = nil
                        let prefill = Double(context) / (Double(t1 - t0) * 1e-9)
                        let decode = Double(tokens) / (Double(t2 - t1) * 1e-9)
                        if decode > best.decode {
                            best = (max(prefill, best.prefill), decode,
                                    Dictionary(uniqueKeysWithValues: profile.seconds.map { ($0.key.rawValue, $0.value * 1000 / Double(tokens)) }))
                        } else {
                            best.prefill = max(prefill, best.prefill)
                        }
                    }
                    let bytes = decoder.weightBytesPerToken
                    measured.append(Row(valueType: type, storage: storage, context: context, prefillTokensPerSecond: best.prefill,
                                        decodeTokensPerSecond: best.decode, weightBytesPerToken: bytes,
                                        gigabytesPerSecond: Double(bytes) * best.decode / 1e9, millisecondsPerPart: best.parts,
                                        decodeSpeedup: 1, prefillSpeedup: 1))
                    progress(String(format: "%@ %@ context %d: prefill %.1f tok/s, decode %.1f tok/s", type.rawValue, storage,
                                    context, best.prefill, best.decode))
                }
                measured[1].decodeSpeedup = measured[1].decodeTokensPerSecond / measured[0].decodeTokensPerSecond
                measured[1].prefillSpeedup = measured[1].prefillTokensPerSecond / measured[0].prefillTokensPerSecond
                rows += measured
            }
        }
        return Report(model: checkpoint.url.path, cpu: SparseKernel.cpuDescription, threads: threads.count, sparsity: sparsity,
                      memoryReadGigabytesPerSecond: SparseBenchmark.memoryReadBandwidth(threads: threads),
                      generatedTokens: tokens, rows: rows)
    }
}

extension IncrementalDecoder {
    /// Fraction of zero weights among the block linears stored sparse (0 when none is).
    public var blockSparsity: Double {
        var zeros = 0, total = 0
        for block in blocks {
            for (_, op) in block.linears {
                if let sparse = op as? SparseLinear {
                    zeros += sparse.weight.rows * sparse.weight.columns - sparse.weight.nonZeroCount
                    total += sparse.weight.rows * sparse.weight.columns
                } else if let quantized = op as? QuantizedLinear, quantized.weight.isSparse {
                    zeros += quantized.weight.rows * quantized.weight.columns - quantized.weight.storedCount
                    total += quantized.weight.rows * quantized.weight.columns
                }
            }
        }
        return total == 0 ? 0 : Double(zeros) / Double(total)
    }
}
