import Foundation
import Testing
import Kernels
import Pruning
import TensorCore
import TensorIO
import Transformer
import _TestSupport

/// Joint pruning + quantization (`dlp prune --quantize`): the jointly quantized weights are fixed
/// points of the GGUF exporter (ggml's round-to-nearest quantizer re-derives the same scale and
/// levels), pruned weights stay exactly 0 with the mask unchanged, and GPTQ with a fixed Wanda
/// mask reconstructs a real SmolLM2 layer better than round-to-nearest at the same type and mask.
@Suite struct JointQuantizationTests {
    /// `dequantize(quantize(w))` for a GGUF block type (what `model.gguf` holds for `w`).
    static func roundTrip(_ values: [Float], _ type: DType) -> [Float] {
        let bytes = quantize(values, as: type)
        var decoded = [Float](repeating: .nan, count: values.count)
        bytes.withUnsafeBytes { raw in
            decoded.withUnsafeMutableBufferPointer { dequantize(type, bytes: raw, count: values.count, into: $0.baseAddress!) }
        }
        return decoded
    }

    /// Elements whose round trip through the exporter is not bit-identical. A zero may come back
    /// as −0 (ggml decodes Q4_0's level 8 as `0·d`, negative when `d` is), so zeros compare as zeros.
    static func moved(_ values: [Float], _ type: DType) -> [Int] {
        let decoded = roundTrip(values, type)
        return values.indices.filter { i in
            values[i] == 0 ? decoded[i] != 0 : values[i].bitPattern != decoded[i].bitPattern
        }
    }

    /// A synthetic layer with 32-multiple inputs; some groups start with two weights of equal
    /// magnitude and opposite sign (the Q4_0 tie the anchor must avoid).
    static func layer(rows: Int = 21, columns: Int = 192, tokens: Int = 400, seed: UInt64) -> (w: Matrix, x: Matrix) {
        var generator = SeededGenerator(seed: seed)
        var w = randomMatrix(rows, columns, &generator)
        for r in stride(from: 0, to: rows, by: 3) {
            w[r, 32] = 1.5
            w[r, 33] = -1.5
        }
        return (w, correlatedInputs(tokens: tokens, features: columns, &generator))
    }

    static let targets: [SparsityTarget] = [.ratio(0.5), .nm(zeros: 2, group: 4)]

    /// The grid alone: a group whose anchor is quantized to the grid end and whose other values
    /// are rounded and clamped survives ggml's quantizer bit for bit, for anchors whose scale
    /// rounds up or down in fp16, ties of opposite sign, values past the anchor (as error updates
    /// leave them) and tiny or zero groups.
    @Test(arguments: JointQuantization.allCases)
    func gridValuesAreFixedPoints(_ quantization: JointQuantization) throws {
        var generator = SeededGenerator(seed: 5)
        var values = [Float]()
        for g in 0..<400 {
            let scale = Float.pow10(generator.nextSignedUnit() * 4 - (g % 5 == 0 ? 4 : 0))
            var group = generator.uniform(count: 32, scale: scale)
            let anchor = g % 7
            group[anchor] = (g % 2 == 0 ? 1 : -1) * scale * (1 + Float(g % 3) * 1e-3)
            if g % 4 == 0 { group[anchor + 1] = -group[anchor] }                     // opposite-sign tie
            if g % 6 == 0 { group[anchor + 2] = group[anchor] * 1.3 }                 // past the anchor
            if g % 9 == 0 { for i in 0..<32 where i != anchor { group[i] = 0 } }
            if g == 17 { group = [Float](repeating: 0, count: 32) }
            if g == 18 { group = group.map { $0 * 1e-9 } }                            // fp16 scale underflows
            let grid = try #require(quantization.grid(anchor: g == 17 ? 0 : group[anchor]))
            values += group.indices.map { $0 == anchor && g != 17 ? grid.anchorValue : grid.nearest(group[$0]) }
        }
        #expect(Self.moved(values, quantization.dtype).isEmpty)
        // Rounding the anchor like the others instead breaks it: the check can fail.
        var naive = [Float]()
        for g in 0..<64 {
            var group = generator.uniform(count: 32, scale: 1)
            group[0] = 0.9871 + Float(g) * 1e-3
            let grid = try #require(quantization.grid(anchor: group[0]))
            group[0] *= 0.9
            naive += group.map { grid.nearest($0) }
        }
        #expect(!Self.moved(naive, quantization.dtype).isEmpty)
        #expect(quantization.grid(anchor: 1e9) == nil)
    }

    /// SparseGPT with `quantization` and GPTQ with a fixed Wanda mask, unstructured and 2:4: every
    /// written weight is a fixed point of the exporter; the mask has its exact counts and every
    /// pruned weight is exactly 0; the fixed mask is Wanda's own. Without joint quantization the
    /// same weights are not fixed points (the check can fail).
    @Test(arguments: JointQuantization.allCases, [PruningMethod.sparsegpt, .wanda])
    func jointlyQuantizedWeightsAreFixedPointsOfTheExporter(_ quantization: JointQuantization, _ method: PruningMethod) throws {
        let (w, x) = Self.layer(seed: 7)
        let calibration: LinearCalibration = method == .wanda ? .inputNormsAndHessian(squaredNorms(x), hessian(x)) : .hessian(hessian(x))
        for target in Self.targets {
            var joint = w, plain = w
            let pruner = LinearPruner(method: method, quantization: quantization, threads: ComputeThreads(3))
            let outcome = try pruner.prune(&joint, target: target, calibration: calibration, name: "w")
            try SparsityVerifier.verify(outcome, weight: joint, name: "w")
            let unquantized = try LinearPruner(method: method).prune(&plain, target: target, calibration: calibration, name: "w")
            let moved = Self.moved(joint.storage, quantization.dtype)
            #expect(moved.isEmpty, "\(quantization) \(method) \(target): \(moved.count) values move, first \(moved.prefix(4))")
            #expect(!Self.moved(plain.storage, quantization.dtype).isEmpty)
            if method == .wanda { #expect(outcome.mask == unquantized.mask, "\(target): the fixed mask changed") }
            for r in 0..<w.rows {
                for c in 0..<w.columns where outcome.mask[r, c] { #expect(joint[r, c].bitPattern == 0, "(\(r), \(c))") }
            }
            #expect(SparsityReport.zeroCount(joint) >= outcome.mask.prunedCount)
            #expect(outcome.sparseGPT.map { $0.estimatedLoss > 0 && $0.dampingRaises == 0 } == true)
        }
    }

    /// Joint quantization refuses rows that are not whole 32-weight blocks, naming the matrix.
    @Test func rowsMustBeWholeBlocks() throws {
        var (w, x) = (Matrix(rows: 2, columns: 48), Matrix(rows: 10, columns: 48))
        for i in 0..<w.count { w.storage[i] = Float(i % 7) - 3 }
        for i in 0..<x.count { x.storage[i] = Float(i % 5) }
        #expect(throws: PruningError.quantizationGroupDoesNotDivide(name: "w", columns: 48, type: "q4_0")) {
            try LinearPruner(method: .sparsegpt, quantization: .q4_0).prune(&w, target: .ratio(0.5), calibration: .hessian(hessian(x)), name: "w")
        }
        #expect(throws: PruningError.self) { try JointQuantization.parse("q4_1") }
        #expect(try JointQuantization.parse("Q8_0") == .q8_0)
    }

    static let smol = TestAssets.model("smollm2-135m")
    static let c4 = TestAssets.data("c4.utf8")

    /// Block 0's `gate` and `down` of SmolLM2-135M with their Hessians and input norms from 4 × 128
    /// C4 calibration tokens.
    static func realLayer(seed: UInt64 = 0, samples: Int = 4) throws -> [(role: TensorRole, weight: Matrix, hessian: Matrix, norms: [Double])] {
        let checkpoint = try Checkpoint.openGGUF(Self.smol)
        let settings = CalibrationSettings(source: CalibrationSource(name: "c4", path: Self.c4.path), sampling: .stream,
                                           samples: samples, sequenceLength: 128, seed: seed)
        let set = try CalibrationSet(settings: settings, tokenizer: try checkpoint.tokenizer())
        let model = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: 128)
        let layer = try model.layer(0)
        let c = model.configuration
        let roles: [TensorRole] = [.gate, .down]
        let hessians = HessianObserver(roles: Set(roles), sequenceCount: set.windows.count)
        let norms = InputNormObserver(sequenceCount: set.windows.count)
        let workspace = BlockWorkspace(configuration: c, capacity: 128, threads: .single)
        for window in set.windows {
            for observer in [hessians, norms] as [any LinearInputObserver] {
                var hidden = Matrix(rows: 128, columns: c.hiddenSize)
                try hidden.storage.withUnsafeMutableBufferPointer { try model.embed(window, into: $0.baseAddress!) }
                layer.forward(&hidden, workspace: workspace, observer: observer)
            }
        }
        return try roles.map { ($0, layer.weights[linear: $0], try hessians.hessian(for: $0), try norms.squaredNorms(for: $0)) }
    }

    /// `Σ_rows δ H δᵀ`, δ = a − b: `‖X(a − b)ᵀ‖²` up to the factor `2/N` of `H`.
    static func error(_ a: Matrix, _ b: Matrix, _ h: Matrix) -> Double {
        var delta = a
        for i in 0..<delta.count { delta.storage[i] -= b.storage[i] }
        let product = GEMM.multiply(delta, h)   // [rows, C]
        return zip(delta.storage, product.storage).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }

    /// On block 0 of SmolLM2-135M (gate and down) with its real calibration inputs (4 × 128 C4
    /// tokens): GPTQ with a fixed Wanda mask (50%) reconstructs the masked weight `W` better than
    /// round-to-nearest of the same masked weights at the same type, by at least 15% in
    /// `‖(W − Ŵ)X‖²` (measured 0.59–0.79×). With `H = (2/N)·Σ x xᵀ`,
    /// `‖X(A − B)ᵀ‖² ∝ Σ_rows δ H δᵀ` (δ = A − B). Against the dense weight (pruning and
    /// quantization together) GPTQ gains ~4% at q4_0 and nothing measurable at q8_0, where the
    /// pruning error is ~3000× the quantization error. Figures are printed.
    @Test(.enabled(if: TestAssets.has(smol, c4)))
    func fixedMaskGPTQBeatsRoundToNearestOnARealLayer() throws {
        for (role, dense, h, s) in try Self.realLayer() {
            func error(_ a: Matrix, _ b: Matrix) -> Double { Self.error(a, b, h) }
            for quantization in JointQuantization.allCases {
                var masked = dense, gptq = dense
                let mask = try LinearPruner(method: .wanda).prune(&masked, target: .ratio(0.5), calibration: .inputNorms(s), name: "\(role)").mask
                let outcome = try LinearPruner(method: .wanda, quantization: quantization)
                    .prune(&gptq, target: .ratio(0.5), calibration: .inputNormsAndHessian(s, h), name: "\(role)")
                #expect(outcome.mask == mask)
                let rtn = Matrix(rows: dense.rows, columns: dense.columns, storage: Self.roundTrip(masked.storage, quantization.dtype))
                #expect(rtn.storage.indices.allSatisfy { masked.storage[$0] != 0 || rtn.storage[$0] == 0 })
                let total = (gptq: error(dense, gptq), rtn: error(dense, rtn))
                let quantizationOnly = (gptq: error(masked, gptq), rtn: error(masked, rtn))
                print(String(format: "block 0 %@ %@ (Wanda 50%% mask): ‖(W−Ŵ)X‖² GPTQ %.5g vs RTN %.5g (%.3f×); quantization only %.5g vs %.5g (%.3f×)",
                             role.rawValue, quantization.rawValue, total.gptq, total.rtn, total.gptq / total.rtn,
                             quantizationOnly.gptq, quantizationOnly.rtn, quantizationOnly.gptq / quantizationOnly.rtn))
                #expect(quantizationOnly.gptq < 0.85 * quantizationOnly.rtn, "\(role) \(quantization)")
                // Against the dense weight the pruning error dominates; at q4_0 GPTQ still gains ~4%,
                // at q8_0 the two agree within 0.1% (the cross term with the pruning error decides).
                if quantization == .q4_0 { #expect(total.gptq < 0.99 * total.rtn, "\(role) \(quantization)") }
                #expect(Self.moved(gptq.storage, quantization.dtype).isEmpty)
            }
        }
    }

    /// SparseGPT with joint quantization against SparseGPT followed by round-to-nearest, and the
    /// fixed-mask GPTQ of Wanda against round-to-nearest, on the same real layer at 50%, fitted on
    /// 4 × 128 tokens and measured there and on 16 × 128 held-out tokens (seed 1). In-sample, joint
    /// q4_0 must save at least 10% of SparseGPT-then-RTN's `‖(W − Ŵ)X‖²` (measured 0.56–0.78×);
    /// at q8_0 the pruning error dominates and both agree within 1%. Held out, the gain shrinks
    /// or reverses (`down`, 1536 inputs fitted on 512 tokens: GPTQ/RTN ≈ 1.07–1.4×): the update
    /// overfits a small calibration set, as the WikiText-2 figures in the commit log show.
    @Test(.enabled(if: TestAssets.has(smol, c4)))
    func jointSparseGPTAgainstSparseGPTThenRoundToNearest() throws {
        let heldOut = try Self.realLayer(seed: 1, samples: 16)
        for (index, (role, dense, h, s)) in try Self.realLayer().enumerated() {
            let other = heldOut[index].hessian
            for quantization in JointQuantization.allCases {
                var masked = dense, gptq = dense, joint = dense, plain = dense
                _ = try LinearPruner(method: .wanda).prune(&masked, target: .ratio(0.5), calibration: .inputNorms(s), name: "\(role)")
                _ = try LinearPruner(method: .wanda, quantization: quantization)
                    .prune(&gptq, target: .ratio(0.5), calibration: .inputNormsAndHessian(s, h), name: "\(role)")
                _ = try LinearPruner(method: .sparsegpt, quantization: quantization)
                    .prune(&joint, target: .ratio(0.5), calibration: .hessian(h), name: "\(role)")
                _ = try LinearPruner(method: .sparsegpt).prune(&plain, target: .ratio(0.5), calibration: .hessian(h), name: "\(role)")
                let dtype = quantization.dtype
                let wandaRTN = Matrix(rows: dense.rows, columns: dense.columns, storage: Self.roundTrip(masked.storage, dtype))
                let rtn = Matrix(rows: dense.rows, columns: dense.columns, storage: Self.roundTrip(plain.storage, dtype))
                let inSample = Self.error(dense, joint, h) / Self.error(dense, rtn, h)
                print(String(format: "block 0 %@ %@, 50%%: SparseGPT joint / then RTN %.3f× in-sample, %.3f× held-out; Wanda GPTQ / RTN (quantization only) %.3f× in-sample, %.3f× held-out",
                             role.rawValue, quantization.rawValue, inSample, Self.error(dense, joint, other) / Self.error(dense, rtn, other),
                             Self.error(masked, gptq, h) / Self.error(masked, wandaRTN, h),
                             Self.error(masked, gptq, other) / Self.error(masked, wandaRTN, other)))
                #expect(inSample < (quantization == .q4_0 ? 0.9 : 1.01), "\(role) \(quantization)")
            }
        }
    }
}
