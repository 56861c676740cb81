import Foundation
import TensorCore
import TensorIO
import Testing
import Training
import Transformer
import _TestSupport

/// LoRA training on the real SmolLM2-135M against Hugging Face transformers + peft: the golden
/// fixture of `scripts/reference/lora_fixture.py` (`Tests/Fixtures/lora/`), computed in float64 on
/// the model's first two blocks, final norm and tied head, with r = 8, α = 16, dropout 0 on
/// q_proj and v_proj. The adapter's start values (B ≠ 0) are peft's own `save_pretrained` output,
/// read here by ``PEFTAdapter/read(from:configuration:convention:masked:)`` — the `--adapter`
/// path, which puts B of q_proj into the GGUF's interleaved row order; the gradients of B of q are
/// put back into Hugging Face order with `QKRowPermutation` before they are compared.
///
/// Batch: two 64-token sequences, mean NLL of the 126 next-token predictions (the trainer's
/// normalizer S·(T − 1)); about 17.9 nats, as two blocks mostly predict the current token again.
/// Optimizer: 10 AdamW steps on the same batch, lr 1e-3 constant, betas
/// (0.9, 0.999), ε 1e-8, weight decay 0.01 on every LoRA matrix, no clipping.
///
/// Tolerances (a gradient tensor's error is its largest absolute difference over its largest
/// magnitude; measured values in brackets, release build):
/// - Double: loss and trajectory losses 1e-12 relative [5e-15], gradients 1e-11 [5e-14]. Both
///   sides compute in float64 from the same float32 weights and differ only in summation order
///   (BLAS blocking, 576- to 49,152-term sums), ~1e-16 per operation; the margin is ~200×. The
///   change of the parameters over the 10 steps: 1e-6 of the largest change [4.6e-8, the float32
///   rounding of the stored change].
/// - Float: loss 2e-7 relative [9e-9], gradients 1e-5 [9e-7]. Float32 rounding (6e-8 per
///   operation) accumulated over 576-term dot products, two blocks, the 49,152-way softmax and
///   the backward pass; transformers' own float32 model is 1e-8 relative from the fixture on the
///   loss and up to 1.3e-6 on a gradient tensor (`float32_reference` in the fixture).
///
/// What the suite catches, measured by breaking the library on purpose: dB with the wrong sign
/// (gradient error 2.0, trajectory loss 0.1); the α/r scale left out (loss 5e-4, gradients 0.5);
/// B read as if stored transposed (loss 6e-4, gradients 1.8); B of q_proj left in Hugging Face
/// row order on the GGUF model (loss 3e-5, gradients 2.0); no weight decay on the adapters
/// (trajectory loss 1e-5, parameter change 7e-4).
@Suite(.serialized) struct PEFTGoldenTests {
    static let smol = TestAssets.model("smollm2-135m")
    static let folder = TestAssets.fixture("lora")

    /// The fixture's JSON values and tensors.
    struct Golden {
        let json: JSONValue
        let tensors: SafetensorsFile
        /// The batch. `[2][64]`
        let batch: [[Int32]]
        let loss: Double
        let baseLoss: Double
        /// Loss before steps 1...10, then after step 10.
        let trajectory: [Double]
        let learningRate: Double
        let settings: AdamW<Double>.Settings

        init() throws {
            let data = try Data(contentsOf: PEFTGoldenTests.folder.appendingPathComponent("smollm2-135m-2blocks.json"))
            json = try JSONValue.parse([UInt8](data))
            tensors = try SafetensorsFile(url: PEFTGoldenTests.folder.appendingPathComponent("smollm2-135m-2blocks.safetensors"))
            batch = try #require(json["batch"]?["ids"]?.arrayValue).map { row in
                try #require(row.arrayValue).map { Int32(try #require($0.intValue)) }
            }
            loss = try #require(json["loss"]?.doubleValue)
            baseLoss = try #require(json["base_loss"]?.doubleValue)
            trajectory = try #require(json["trajectory"]?.arrayValue).map { try #require($0.doubleValue) }
            let o = try #require(json["optimizer"])
            let betas = try #require(o["betas"]?.arrayValue).compactMap { $0.doubleValue }
            #expect(o["schedule"]?.stringValue == "constant" && o["gradient_clipping"]?.isNull == true)
            learningRate = try #require(o["lr"]?.doubleValue)
            settings = .init(beta1: betas[0], beta2: betas[1], epsilon: try #require(o["eps"]?.doubleValue),
                             weightDecay: try #require(o["weight_decay"]?.doubleValue))
        }

        /// F64 tensor `name`, row-major.
        func doubles(_ name: String) throws -> [Double] {
            let bytes = try tensors.storedBytes(name, as: .f64)
            return bytes.withUnsafeBytes { raw in
                (0..<(raw.count / 8)).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
            }
        }

        /// dL/dA or dL/dB of `kind`, Hugging Face row order.
        func gradient(_ kind: ParameterKind) throws -> [Double] { try doubles("grad." + PEFTGoldenTests.key(kind)) }

        /// The change of `kind` over the 10 steps.
        func delta(_ kind: ParameterKind) throws -> [Float] { try tensors.floats("delta." + PEFTGoldenTests.key(kind)) }
    }

    /// The checkpoint, the first two blocks as a training model, and the adapter read from peft's files.
    struct Setup<Scalar: TrainingScalar> {
        let checkpoint: Checkpoint
        let model: TrainingModel<Scalar>
        let adapter: PEFTAdapter.Loaded
        let start: TrainableParameters<Scalar>

        init(blocks: Int = 2) throws {
            checkpoint = try Checkpoint.openGGUF(PEFTGoldenTests.smol)
            var c = checkpoint.configuration
            try #require(c.tiedEmbeddings && checkpoint.rotaryConvention == .interleaved)
            c.layerCount = blocks
            model = try TrainingModel(configuration: c, convention: checkpoint.rotaryConvention,
                                      embedding: try checkpoint.tokenEmbedding(), head: nil,
                                      finalNorm: try checkpoint.outputNorm(),
                                      blocks: try (0..<blocks).map(checkpoint.block), maxSequenceLength: 64)
            adapter = try PEFTAdapter.read(from: PEFTGoldenTests.folder.appendingPathComponent("adapter"), configuration: c,
                                           convention: checkpoint.rotaryConvention)
            var start = TrainableParameters<Scalar>(configuration: c, lora: adapter.parameters.lora)
            start.values = adapter.parameters.values.map { Scalar($0) }
            self.start = start
        }

        var configuration: ModelConfiguration { model.configuration }
    }

    /// The safetensors key of `kind` in peft's file (`base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight`).
    static func key(_ kind: ParameterKind) -> String {
        switch kind {
        case .loraA(let block, let role): PEFTAdapter.key(block: block, role: role, matrix: "lora_A")
        case .loraB(let block, let role): PEFTAdapter.key(block: block, role: role, matrix: "lora_B")
        default: preconditionFailure("\(kind) is not a LoRA matrix")
        }
    }

    /// Tensor `kind` of `parameters` in Hugging Face row order: B of q/k un-permuted from the
    /// GGUF's interleaved order (the permutation of `PEFTAdapter.write`, applied to indices).
    static func huggingFaceOrder<S: TrainingScalar>(_ parameters: TrainableParameters<S>, _ kind: ParameterKind,
                                                    _ c: ModelConfiguration) -> [S] {
        let entry = parameters.entry(kind)
        let values = Array(parameters.values[entry.range])
        guard case .loraB(_, let role) = kind, role == .query || role == .key else { return values }
        let source = QKRowPermutation.toHuggingFace((0..<values.count).map(Float.init),
                                                     heads: role == .query ? c.headCount : c.keyValueHeadCount,
                                                     columns: entry.columns)
        return source.map { values[Int($0)] }
    }

    /// `max |a − b| / max |b|`.
    static func relativeMaxError(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count)
        let scale = b.map(abs).max() ?? 0
        return zip(a, b).map { abs($0 - $1) }.max()! / scale
    }

    /// The loss of the batch (mean over its `S·(T − 1)` predictions) and its gradient, as the
    /// trainer accumulates it.
    static func lossAndGradients<S: TrainingScalar>(_ model: TrainingModel<S>, _ parameters: TrainableParameters<S>,
                                                    batch: [[Int32]]) -> (loss: Double, gradients: TrainableParameters<S>) {
        let normalizer = batch.count * (batch[0].count - 1)
        var gradients = parameters.zeros()
        var sum = 0.0
        for tokens in batch {
            let targets = Array(tokens.dropFirst()) + [-1]
            sum += model.accumulateGradients(tokens: tokens, targets: targets, parameters: parameters, into: &gradients,
                                             normalizer: normalizer).lossSum
        }
        return (sum / Double(normalizer), gradients)
    }

    /// The loss of the batch, no gradient.
    static func loss<S: TrainingScalar>(_ model: TrainingModel<S>, _ parameters: TrainableParameters<S>?, batch: [[Int32]]) -> Double {
        batch.map { model.loss(tokens: $0, targets: Array($0.dropFirst()) + [-1], parameters: parameters) }.reduce(0, +)
            / Double(batch.count)
    }

    /// Compares the loss and every gradient tensor with the fixture; returns a summary of the errors.
    static func compare<S: TrainingScalar>(_ setup: Setup<S>, _ golden: Golden, lossTolerance: Double,
                                           gradientTolerance: Double) throws -> String {
        let (loss, gradients) = Self.lossAndGradients(setup.model, setup.start, batch: golden.batch)
        let lossError = abs(loss - golden.loss) / golden.loss
        #expect(lossError <= lossTolerance, "loss \(loss) vs peft's \(golden.loss)")
        var worst = 0.0
        for entry in gradients.entries {
            let ours = Self.huggingFaceOrder(gradients, entry.kind, setup.configuration).map { Double($0) }
            let error = Self.relativeMaxError(ours, try golden.gradient(entry.kind))
            #expect(error <= gradientTolerance, "\(entry.kind): max error \(error) of the largest gradient")
            worst = max(worst, error)
        }
        return "loss \(loss) (peft \(golden.loss), relative error \(lossError)), worst gradient tensor error \(worst) of its max |g|"
    }

    /// The adapter is peft's: the configuration as written by peft and every start value non-zero;
    /// the truncated model holds the reference's weights (digests over Hugging Face row order).
    @Test(.enabled(if: TestAssets.has(smol))) func adapterAndWeightsAreTheReferences() throws {
        let golden = try Golden()
        let setup = try Setup<Float>()
        let c = setup.configuration
        #expect(setup.adapter.parameters.lora == LoRAConfiguration(rank: 8, alpha: 16, dropout: 0, targets: [.query, .value],
                                                                   masked: false, trainsNormGains: false))
        #expect(!setup.adapter.usesRSLoRA && setup.adapter.maskSource.hasPrefix("default"))
        for entry in setup.start.entries {
            #expect(setup.start.values[entry.range].allSatisfy { $0 != 0 }, "\(entry.kind)")
        }
        let digests = try #require(golden.json["weight_digests"]?["values"]?.objectValue)
        var names = Set<String>()
        for role in TensorRole.allCases where role.isPresent(in: c) {
            for block in role.isPerBlock ? Array(0..<c.layerCount) : [0] {
                let name = role.huggingFaceName(block: block)
                names.insert(name)
                var values = try setup.checkpoint.tensor(role, block: block)
                if role == .query || role == .key {
                    values = QKRowPermutation.toHuggingFace(values, heads: role == .query ? c.headCount : c.keyValueHeadCount,
                                                            columns: c.hiddenSize)
                }
                let rows = role.shape(c)[0], columns = values.count / rows
                var sum = 0.0, weighted = 0.0
                for r in 0..<rows {
                    var rowSum = 0.0
                    for j in 0..<columns { rowSum += Double(values[r * columns + j]) }
                    sum += rowSum
                    weighted += Double(r + 1) * rowSum
                }
                let digest = try #require(digests[name]?.arrayValue, "\(name)")
                let expected = digest.compactMap(\.doubleValue)
                #expect(abs(sum - expected[0]) <= 1e-9 * max(1, abs(expected[0])), "\(name) sum")
                #expect(abs(weighted - expected[1]) <= 1e-9 * max(1, abs(expected[1])), "\(name) row-weighted sum")
            }
        }
        #expect(names == Set(digests.members.map(\.key)))
    }

    /// Loss and LoRA gradients in Double: equal to peft's float64 values up to summation order.
    @Test(.enabled(if: TestAssets.has(smol))) func lossAndGradientsMatchPEFTInDouble() throws {
        let golden = try Golden()
        let setup = try Setup<Double>()
        let base = Self.loss(setup.model, nil, batch: golden.batch)
        #expect(abs(base - golden.baseLoss) <= 1e-12 * golden.baseLoss, "base loss \(base) vs \(golden.baseLoss)")
        print("golden LoRA, Double: " + (try Self.compare(setup, golden, lossTolerance: 1e-12, gradientTolerance: 1e-11)))
    }

    /// Loss and LoRA gradients in Float, the training precision: within float32 rounding.
    @Test(.enabled(if: TestAssets.has(smol))) func lossAndGradientsMatchPEFTInFloat() throws {
        let golden = try Golden()
        print("golden LoRA, Float: " + (try Self.compare(try Setup<Float>(), golden, lossTolerance: 2e-7, gradientTolerance: 1e-5)))
    }

    /// Ten AdamW steps on the batch, as the trainer takes them (gradient of the batch's mean
    /// loss, one step over the flat parameter vector, decay on ``TrainableParameters/decayedRanges``):
    /// the loss before each step and after the last, and the change of every adapter matrix,
    /// follow torch's. In Double: in Float, Adam's first steps move each value by about ±lr
    /// whatever the gradient's size, so a gradient near zero whose sign float32 rounding flips
    /// moves its value by 2·lr the other way (measured: up to 1.6e-3 of the largest change),
    /// as large as weight decay's share of the change (7e-4); the Float optimizer is checked
    /// against torch in `OptimizerTests`, the Float pass above. The change is stored as float32,
    /// which limits its check to about 5e-8 of the largest change.
    @Test(.enabled(if: TestAssets.has(smol))) func tenAdamWStepsFollowTorch() throws {
        let golden = try Golden()
        let setup = try Setup<Double>()
        var parameters = setup.start
        var optimizer = AdamW<Double>(parameterCount: parameters.values.count, settings: golden.settings)
        var losses = [Double]()
        for _ in 0..<(golden.trajectory.count - 1) {
            let (loss, gradients) = Self.lossAndGradients(setup.model, parameters, batch: golden.batch)
            losses.append(loss)
            optimizer.step(parameters: &parameters.values, gradients: gradients.values, learningRate: golden.learningRate,
                           decayed: parameters.decayedRanges)
        }
        losses.append(Self.loss(setup.model, parameters, batch: golden.batch))
        var worstLoss = 0.0, worstChange = 0.0
        for (step, (loss, expected)) in zip(losses, golden.trajectory).enumerated() {
            let error = abs(loss - expected) / expected
            #expect(error <= 1e-12, "loss \(step): \(loss) vs torch's \(expected)")
            worstLoss = max(worstLoss, error)
        }
        for entry in parameters.entries {
            let after = Self.huggingFaceOrder(parameters, entry.kind, setup.configuration)
            let before = Self.huggingFaceOrder(setup.start, entry.kind, setup.configuration)
            let error = Self.relativeMaxError(zip(after, before).map { $0 - $1 }, try golden.delta(entry.kind).map { Double($0) })
            #expect(error <= 1e-6, "\(entry.kind): parameter change off by \(error) of the largest change")
            worstChange = max(worstChange, error)
        }
        print("golden LoRA, 10 AdamW steps (Double): losses \(losses.first!) → \(losses.last!), worst relative error \(worstLoss);"
              + " worst parameter-change error \(worstChange) of the largest change")
    }
}
