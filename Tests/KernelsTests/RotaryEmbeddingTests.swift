import Foundation
import Testing
import TensorCore
import Kernels
import _TestSupport

/// RoPE error: each output is `a·cos − b·sin` with table entries rounded once (u relative each),
/// two products and a sum (3 roundings): within `4u·(|a| + |b|)`; inputs are in [-1, 1), so
/// `8u` absolute bounds every element.
let ropeBound = 8 * unitRoundoff

@Suite struct RotaryEmbeddingTests {
    static let scalings: [(RotaryScaling, Reference.RoPEScaling)] = [
        (.none, .none),
        (.linear(factor: 4), .linear(4)),
        (.llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositions: 64),
         .llama3(factor: 8, low: 1, high: 4, original: 64)),
    ]

    @Test(arguments: [2, 6, 64], scalings.indices)
    func bothConventionsMatchTheFormula(headDimension: Int, scalingIndex: Int) throws {
        let (scaling, referenceScaling) = Self.scalings[scalingIndex]
        let (heads, tokens, start) = (3, 7, 570)
        let rope = try RotaryEmbedding(base: 10_000, headDimension: headDimension, maxPositions: 577, scaling: scaling)
        var generator = SeededGenerator(seed: UInt64(headDimension))
        let x = randomMatrix(tokens, heads * headDimension, &generator)
        for (convention, interleaved) in [(RotaryConvention.interleaved, true), (.halfSplit, false)] {
            var y = x
            rope.apply(to: &y, headCount: heads, startPosition: start, convention: convention)
            let expected = Reference.rope(x, headCount: heads, headDimension: headDimension, base: 10_000,
                                          scaling: referenceScaling, startPosition: start, interleaved: interleaved)
            expectWithin(y.storage, expected, bound: { _ in ropeBound }, "RoPE d=\(headDimension) \(convention) \(scaling)")
        }
    }

    /// GGUF's llama q/k permutation turns the half-split rotation into the interleaved one:
    /// with `P` the row permutation of each head, `rope_interleaved(P·q) = P·rope_halfSplit(q)`.
    /// Checked end to end through the projection: a GGUF weight `P·W` and interleaved RoPE give
    /// the permuted result of a Hugging Face weight `W` and half-split RoPE.
    @Test(arguments: [2, 64, 128])
    func ggufPermutationRelatesTheConventions(headDimension: Int) throws {
        let (heads, tokens, hidden) = (3, 33, 7)
        let rope = try RotaryEmbedding(base: 100_000, headDimension: headDimension, maxPositions: 64)
        let source = Reference.ggufQKRowSource(headCount: heads, headDimension: headDimension)
        var generator = SeededGenerator(seed: 99)
        let x = randomMatrix(tokens, hidden, &generator)
        let hfWeight = randomMatrix(heads * headDimension, hidden, scale: 0.3, &generator)
        let ggufWeight = Reference.permuteRows(hfWeight, source: source)

        var hfQ = GEMM.linear(x, weight: hfWeight)
        rope.apply(to: &hfQ, headCount: heads, startPosition: 5, convention: .halfSplit)
        var ggufQ = GEMM.linear(x, weight: ggufWeight)
        rope.apply(to: &ggufQ, headCount: heads, startPosition: 5, convention: .interleaved)

        let expected = Reference.permuteColumns(hfQ, source: source).storage.map(Double.init)
        // |q| ≤ 7·0.3: same arithmetic on the same pairs, up to GEMM rounding (≤ 10u·|q|).
        expectWithin(ggufQ.storage, expected, bound: { _ in 40 * unitRoundoff }, "interleaved(P·q) = P·halfSplit(q)")
    }

    @Test func llama3ScalingKeepsHighAndDividesLowFrequencies() throws {
        // Llama 3.1 8B settings.
        let scaling = RotaryScaling.llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4,
                                           originalMaxPositions: 8192)
        let rope = try RotaryEmbedding(base: 500_000, headDimension: 128, maxPositions: 1, scaling: scaling)
        let plain = try RotaryEmbedding(base: 500_000, headDimension: 128, maxPositions: 1)
        #expect(abs(rope.inverseFrequencies[0] - 1) < 1e-15)
        for i in 0..<64 {
            let wavelength = 2 * Double.pi / plain.inverseFrequencies[i]
            let ratio = rope.inverseFrequencies[i] / plain.inverseFrequencies[i]
            if wavelength < 8192 / 4 { #expect(abs(ratio - 1) < 1e-12, "pair \(i)") }
            else if wavelength > 8192 { #expect(abs(ratio - 1.0 / 8) < 1e-12, "pair \(i)") }
            else { #expect(ratio > 1.0 / 8 && ratio < 1, "pair \(i) is interpolated") }
            let reference = Reference.ropeInverseFrequency(i, headDimension: 128, base: 500_000,
                                                           scaling: .llama3(factor: 8, low: 1, high: 4, original: 8192))
            #expect(abs(rope.inverseFrequencies[i] - reference) <= 1e-12 * reference)
        }
    }

    @Test func positionOffsetMatchesFullSequence() throws {
        let rope = try RotaryEmbedding(base: 10_000, headDimension: 8, maxPositions: 20)
        var generator = SeededGenerator(seed: 5)
        let x = randomMatrix(20, 16, &generator)
        var whole = x
        rope.apply(to: &whole, headCount: 2, startPosition: 0, convention: .interleaved)
        var tail = Matrix(rows: 7, columns: 16, storage: Array(x.storage[(13 * 16)...]))
        rope.apply(to: &tail, headCount: 2, startPosition: 13, convention: .interleaved)
        expectWithin(tail.storage, whole.storage[(13 * 16)...].map(Double.init), bound: { _ in 0 }, "offset rows")
    }

    @Test func invalidSettingsThrow() {
        #expect(throws: RotaryEmbedding.ConfigurationError.self) {
            try RotaryEmbedding(base: 10_000, headDimension: 7, maxPositions: 4)
        }
        #expect(throws: RotaryEmbedding.ConfigurationError.self) {
            try RotaryEmbedding(base: 0, headDimension: 8, maxPositions: 4)
        }
        #expect(throws: RotaryEmbedding.ConfigurationError.self) {
            try RotaryEmbedding(base: 10_000, headDimension: 8, maxPositions: 4,
                                scaling: .llama3(factor: 8, lowFrequencyFactor: 4, highFrequencyFactor: 1,
                                                 originalMaxPositions: 8192))
        }
    }
}
