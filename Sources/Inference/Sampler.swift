import Foundation
import TensorCore

/// Picks the next token from logits: greedy at temperature 0, else a draw from the softmax of
/// `logits / temperature` restricted to the smallest set of most likely tokens whose
/// probabilities reach `topP` (nucleus sampling), from a seeded generator — the same seed, model
/// and prompt give the same text.
public struct Sampler: Sendable {
    public let temperature: Float
    public let topP: Float
    private var generator: SeededGenerator

    /// `temperature ≥ 0`, `0 < topP ≤ 1` (the CLI validates user input first).
    public init(temperature: Float, topP: Float = 1, seed: UInt64 = 0) {
        precondition(temperature >= 0 && temperature.isFinite, "temperature must be ≥ 0")
        precondition(topP > 0 && topP <= 1, "top-p must lie in (0, 1]")
        self.temperature = temperature
        self.topP = topP
        generator = SeededGenerator(seed: seed)
    }

    /// The next token id.
    public mutating func next(_ logits: [Float]) -> Int32 {
        precondition(!logits.isEmpty, "sampling from no logits")
        guard temperature > 0 else { return Int32(Self.argmax(logits)) }
        let scaled = logits.map { Double($0 / temperature) }
        let top = scaled.max()!
        var weights = scaled.map { ($0 - top).isNaN ? 0 : exp($0 - top) }
        var order = Array(weights.indices)
        if topP < 1 {
            order.sort { (a: Int, b: Int) -> Bool in
                let (wa, wb) = (weights[a], weights[b])
                return wa > wb || (wa == wb && a < b)
            }
            let total = weights.reduce(0, +)
            var kept = 0.0, count = 0
            while count < order.count, kept < Double(topP) * total {
                kept += weights[order[count]]
                count += 1
            }
            let keep = Set(order.prefix(max(count, 1)))
            for i in weights.indices where !keep.contains(i) { weights[i] = 0 }
            order = Array(order.prefix(max(count, 1)))
        }
        let total = order.reduce(0) { $0 + weights[$1] }
        let u = Double(generator.next() >> 11) / Double(1 << 53) * total
        var sum = 0.0
        for i in order {
            sum += weights[i]
            if u < sum { return Int32(i) }
        }
        return Int32(order.last!)
    }

    /// Index of the largest logit (the lowest index among equals).
    public static func argmax(_ logits: [Float]) -> Int {
        var best = 0
        for i in logits.indices where logits[i] > logits[best] { best = i }
        return best
    }
}
