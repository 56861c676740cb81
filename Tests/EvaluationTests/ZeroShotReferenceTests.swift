import Foundation
import Testing
import _TestSupport
import Evaluation
import Kernels
import Transformer

/// Zero-shot log-likelihoods against transformers (fp32, CPU) on the same GGUF, with the same prompts
/// and tokens, from `scripts/reference/zeroshot_reference.py` (`Tests/Fixtures/zeroshot/smollm2-135m.json`).
@Suite("Zero-shot scoring against transformers")
struct ZeroShotReferenceTests {
    /// Per-choice log-likelihood agreement (nats) for a continuation of `tokens` tokens. Both sides
    /// are fp32 forwards with different GEMM orders; the error grows with the tokens summed (measured
    /// on the fixture's 40 items per task: at most 3.4e-4 except PIQA's long solutions, 9.3e-4).
    static func logLikelihoodTolerance(tokens: Int) -> Double { max(2e-3, 3e-5 * Double(tokens)) }
    /// Items per task checked: all the fixture holds, or the first N with `DLP_ZEROSHOT_REFERENCE_ITEMS=N`.
    static var itemsChecked: Int {
        ProcessInfo.processInfo.environment["DLP_ZEROSHOT_REFERENCE_ITEMS"].flatMap { Int($0) } ?? Int.max
    }
    /// Answers may differ only where the reference's top two (normalised) scores are this close.
    static let tieTolerance = 4e-3

    struct Fixture: Decodable {
        struct Task: Decodable {
            var gold: [Int]
            var ll: [[Double]]
            var n: [[Int]]
            var greedy: [[Bool]]?
        }
        var limit: Int
        var tasks: [String: Task]
    }

    static let fixtureURL = TestAssets.fixture("zeroshot/smollm2-135m.json")
    static let modelURL = TestAssets.model("smollm2-135m")
    static let dataDirectory = ZeroShotDataset.defaultDirectory(home: TestAssets.home)

    @Test("per-choice log-likelihoods, token counts and answers match transformers",
          .enabled(if: TestAssets.has(modelURL, dataDirectory.appendingPathComponent("boolq.jsonl"))))
    func agreesWithReference() throws {
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: Self.fixtureURL))
        let checkpoint = try Checkpoint.open(Self.modelURL.path)
        let tokenizer = try checkpoint.tokenizer()
        let model = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: 2048)
        let evaluation = ZeroShotEvaluation()
        for (name, expected) in fixture.tasks.sorted(by: { $0.key < $1.key }) {
            let task = try #require(ZeroShotTask(rawValue: name))
            let count = min(expected.gold.count, Self.itemsChecked)
            let dataset = try ZeroShotDataset(task: task, directory: Self.dataDirectory, limit: count)
            let results = try evaluation.score(items: dataset.items, model: model, tokenizer: tokenizer)
            #expect(results.count == count)
            var worst = 0.0
            for (i, (result, item)) in zip(results, dataset.items).enumerated() {
                #expect(result.gold == expected.gold[i], "\(name) item \(i): gold")
                let counts = item.requests.map { ZeroShotTokenRequest($0, tokenizer: tokenizer).continuation.count }
                #expect(counts == expected.n[i], "\(name) item \(i): continuation token counts")
                for (j, (got, want)) in zip(result.logLikelihoods, expected.ll[i]).enumerated() {
                    worst = max(worst, abs(got - want))
                    #expect(abs(got - want) <= Self.logLikelihoodTolerance(tokens: expected.n[i][j]),
                            "\(name) item \(i) choice \(j): ll \(got) vs \(want)")
                }
                if let greedy = expected.greedy?[i] {
                    #expect(result.greedy == greedy, "\(name) item \(i): greedy")
                }
                let reference = ZeroShotItemResult(gold: expected.gold[i], logLikelihoods: expected.ll[i],
                                                   greedy: result.greedy, normalizationLengths: result.normalizationLengths)
                Self.expectSameAnswer(result.prediction, reference.prediction, scores: expected.ll[i], "\(name) item \(i) acc")
                let normalized = zip(expected.ll[i], result.normalizationLengths).map { $0 / Double(max($1, 1)) }
                Self.expectSameAnswer(result.normalizedPrediction, reference.normalizedPrediction, scores: normalized,
                                      "\(name) item \(i) acc_norm")
            }
            print("zero-shot reference \(name): \(results.count) items, max |Δll| = \(worst)")
        }
    }

    /// Same choice, or the two choices' reference scores lie within ``tieTolerance``.
    static func expectSameAnswer(_ got: Int, _ want: Int, scores: [Double], _ what: String) {
        guard got != want else { return }
        #expect(abs(scores[got] - scores[want]) <= tieTolerance, "\(what): chose \(got), reference \(want), scores \(scores)")
    }
}
