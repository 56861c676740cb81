import Foundation
import Testing
import _TestSupport
import Evaluation
import Kernels
import Transformer

/// Prompts, request encoding, metrics and the scorer's sharing, on hand-made documents and (where
/// noted) the real SmolLM2 model.
@Suite("Zero-shot tasks")
struct ZeroShotTaskTests {
    func item(_ task: ZeroShotTask, _ json: String) throws -> ZeroShotItem {
        try task.item(fromJSON: Data(json.utf8), line: 1, path: "test.jsonl")
    }

    @Test("prompts follow lm-evaluation-harness's task definitions")
    func prompts() throws {
        let boolq = try item(.boolq, #"{"question":"is it","passage":"P.","answer":true}"#)
        #expect(boolq.requests == [.init(context: "P.\nQuestion: is it?\nAnswer:", continuation: " no"),
                                   .init(context: "P.\nQuestion: is it?\nAnswer:", continuation: " yes")])
        #expect(boolq.gold == 1 && boolq.normalizationLengths == [2, 3])

        let rte = try item(.rte, #"{"sentence1":"A.","sentence2":"B.","label":1,"idx":0}"#)
        #expect(rte.requests.map(\.continuation) == [" True", " False"] && rte.gold == 1)
        #expect(rte.requests[0].context == "A.\nQuestion: B. True or False?\nAnswer:")

        let arc = try item(.arcEasy, #"{"id":"x","question":"Why?","choices":{"text":["a b","c"],"label":["1","2"]},"answerKey":"2"}"#)
        #expect(arc.requests[0] == .init(context: "Question: Why?\nAnswer:", continuation: " a b"))
        #expect(arc.gold == 1 && arc.normalizationLengths == [3, 1])

        let obqa = try item(.openbookqa, #"{"id":"x","question_stem":"Stem","choices":{"text":["u","v"],"label":["A","B"]},"answerKey":" B"}"#)
        #expect(obqa.requests[1] == .init(context: "Stem", continuation: " v") && obqa.gold == 1)

        let piqa = try item(.piqa, #"{"goal":"G","sol1":"s1","sol2":"s2","label":0}"#)
        #expect(piqa.requests[1] == .init(context: "Question: G\nAnswer:", continuation: " s2"))

        let lambada = try item(.lambada, #"{"text":"a  b c word"}"#)
        #expect(lambada.requests == [.init(context: "a  b c", continuation: " word")])
    }

    @Test("WinoGrande partial scoring: option-filled contexts, the same continuation")
    func winogrande() throws {
        let w = try item(.winogrande, #"{"sentence":"Sarah beat Maria so _ won the cup. ","option1":"Sarah","option2":"Maria","answer":"1"}"#)
        #expect(w.requests == [.init(context: "Sarah beat Maria so Sarah", continuation: " won the cup."),
                               .init(context: "Sarah beat Maria so Maria", continuation: " won the cup.")])
        #expect(w.gold == 0 && w.normalizationLengths == [25, 25])
    }

    @Test("HellaSwag preprocessing: [title], bracket spans, double spaces, capitalize")
    func hellaswag() throws {
        #expect(ZeroShotTask.hellaSwagClean("  How to x [title] Do it [step] now  ") == "How to x. Do it now")
        #expect(ZeroShotTask.hellaSwagClean("a [b\nc] d") == "a [b\nc] d")
        #expect(ZeroShotTask.hellaSwagClean("a   b") == "a  b")
        #expect(ZeroShotTask.pythonCapitalize("tHE Man") == "The man")
        let h = try item(.hellaswag, #"{"activity_label":"Roof","ctx_a":"A man.","ctx_b":"he IS","endings":["e1 [x]","e2"],"label":"1"}"#)
        // As in Python: strip first, so removing "[x]" leaves a trailing space.
        #expect(h.requests[0] == .init(context: "Roof: A man. He is", continuation: " e1 "))
        #expect(h.gold == 1 && h.normalizationLengths == [3, 2])
    }

    @Test("malformed documents throw naming the file and line")
    func errors() throws {
        #expect(throws: ZeroShotError.invalidDocument(path: "test.jsonl", line: 1, reason: "missing field 'passage'")) {
            try item(.boolq, #"{"question":"q","answer":true}"#)
        }
        #expect(throws: ZeroShotError.self) { try item(.arcEasy, #"{"question":"q","choices":{"text":["a"],"label":["A"]},"answerKey":"E"}"#) }
        #expect(throws: ZeroShotError.self) { try item(.winogrande, #"{"sentence":"no blank","option1":"a","option2":"b","answer":"1"}"#) }
        #expect(throws: ZeroShotError.self) { try ZeroShotTask.parseList("boolq,nope") }
        #expect(try ZeroShotTask.parseList("all") == ZeroShotTask.paperTasks)
        #expect(try ZeroShotTask.parseList("rte,boolq,rte") == [.rte, .boolq])
        // A missing or empty task file names its path (what `dlp eval` and `dlp bench zeroshot --data-dir` report).
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("zeroshot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let rte = folder.appendingPathComponent("rte.jsonl").path
        #expect(throws: ZeroShotError.missingTaskFile(path: rte, task: "rte")) { try ZeroShotDataset(task: .rte, directory: folder) }
        try Data("\n\n".utf8).write(to: URL(fileURLWithPath: rte))
        #expect(throws: ZeroShotError.emptyTask(path: rte)) { try ZeroShotDataset(task: .rte, directory: folder) }
    }

    @Test("acc, acc_norm (first index on ties), LAMBADA greedy accuracy and the paper mean")
    func metrics() {
        let r = ZeroShotItemResult(gold: 1, logLikelihoods: [-4, -6, -4], greedy: [false, false, false],
                                   normalizationLengths: [2, 6, 2])
        #expect(r.prediction == 0 && r.acc == 0)
        #expect(r.normalizedPrediction == 1 && r.accNorm == 1)
        let word = ZeroShotItemResult(gold: 0, logLikelihoods: [-1], greedy: [true], normalizationLengths: [4])
        #expect(word.acc == 1)
        let lambada = ZeroShotTaskResult(task: .lambada, path: "", results: [word, word], seconds: 1, keepDetails: false)
        #expect(abs((lambada.perplexity ?? 0) - Foundation.exp(1.0)) < 1e-12)
        let tasks = ZeroShotTask.paperTasks.map { ZeroShotTaskResult(task: $0, path: "", results: [r], seconds: 1, keepDetails: false) }
        let report = ZeroShotReport(model: "m", tasks: tasks, limit: nil, maxLength: 2048, threads: 1, seconds: 1)
        // acc = 0 for BoolQ, RTE, WinoGrande; acc_norm = 1 for the other four.
        #expect(abs((report.paperMean ?? -1) - 4.0 / 7.0) < 1e-12)
        let (mean, stderr) = ZeroShotTaskResult.meanAndStderr([1, 0, 1, 0])
        #expect(abs(mean - 0.5) < 1e-12 && abs(stderr - (1.0 / 3.0 / 4.0).squareRoot()) < 1e-12)
    }

    @Test("requests whose input is a prefix of another's in the same question share its sequence")
    func sharing() {
        let scorer = ZeroShotScorer(maxLength: 8)
        let requests = [ZeroShotTokenRequest(context: [1, 2, 3], continuation: [4]),      // input [1,2,3]
                        ZeroShotTokenRequest(context: [1, 2, 3], continuation: [5]),      // input [1,2,3]
                        ZeroShotTokenRequest(context: [1, 2], continuation: [3, 4, 6]),   // input [1,2,3,4]
                        ZeroShotTokenRequest(context: [1, 2, 3], continuation: [4])]      // other question
        let sequences = scorer.sequences(for: requests, groups: [[0, 1, 2], [3]])
        #expect(sequences.map(\.tokens) == [[1, 2, 3, 4], [1, 2, 3]])
        #expect(sequences[0].riders.map(\.request).sorted() == [0, 1, 2])
        let rider2 = sequences[0].riders.first { $0.request == 2 }
        #expect(rider2?.start == 1 && rider2?.targets == [3, 4, 6])
        // The window keeps the last L + 1 tokens of context + continuation and drops the last.
        let long = ZeroShotTokenRequest(context: Array(1...10), continuation: [11, 12])
        #expect(long.input(maxLength: 8).tokens == Array(4...11) && long.input(maxLength: 8).scoredCount == 2)
    }

    @Test("a question's sequences share their common prefix up to the first scored position")
    func prefixGroups() {
        let requests = [ZeroShotTokenRequest(context: [1, 2, 3, 4], continuation: [5, 6]),    // input [1,2,3,4,5]
                        ZeroShotTokenRequest(context: [1, 2, 3, 4], continuation: [6, 7, 8]), // input [1,2,3,4,6,7]
                        ZeroShotTokenRequest(context: [1, 2, 9], continuation: [4]),          // input [1,2,9]
                        ZeroShotTokenRequest(context: [1, 2, 3], continuation: [4]),          // another question
                        ZeroShotTokenRequest(context: [7, 2], continuation: [3]),             // a third: nothing shared
                        ZeroShotTokenRequest(context: [8, 2], continuation: [3])]
        let scorer = ZeroShotScorer(maxLength: 16)
        let groups = scorer.prefixGroups(for: requests, groups: [[0, 1, 2], [3], [4, 5]])
        // Common prefix [1,2]: requests 0 and 1 agree up to their first scored position, 2 diverges sooner.
        #expect(groups[0].prefix == [1, 2])
        #expect(groups[0].branches.map(\.tokens) == [[3, 4, 6, 7], [3, 4, 5], [9]])
        #expect(groups[0].branches[0].riders.map { [$0.request, $0.start] + $0.targets.map(Int.init) } == [[1, 1, 6, 7, 8]])
        #expect(groups[0].branches[1].riders.map { [$0.request, $0.start] + $0.targets.map(Int.init) } == [[0, 1, 5, 6]])
        #expect(groups[0].branches[2].riders.map { [$0.request, $0.start] + $0.targets.map(Int.init) } == [[2, 0, 4]])
        #expect(groups[0].rows == 2 + 4 + 3 + 1)
        #expect(groups[1].prefix.isEmpty && groups[1].branches == scorer.sequences(for: requests, groups: [[3]]))
        #expect(groups[2].prefix.isEmpty && groups[3].prefix.isEmpty && groups.count == 4)
        // The prefix stops before the first scored position even when the inputs agree beyond it.
        let sameStart = [ZeroShotTokenRequest(context: [1, 2], continuation: [3, 4, 5]),
                         ZeroShotTokenRequest(context: [1, 2], continuation: [3, 5, 6, 7])]
        let split = scorer.prefixGroups(for: sameStart, groups: [[0, 1]])
        #expect(split.count == 1 && split[0].prefix == [1])
        #expect(split[0].branches.map(\.tokens) == [[2, 3, 5, 6], [2, 3, 4]])
        // Switched off, every sequence runs whole.
        var plain = scorer
        plain.sharesPrefixes = false
        #expect(plain.prefixGroups(for: requests, groups: [[0, 1, 2]]).allSatisfy { $0.prefix.isEmpty })
    }

    static let modelURL = TestAssets.model("smollm2-135m")

    @Test("request encoding moves the context's trailing space onto the continuation (SmolLM2 tokenizer)",
          .enabled(if: TestAssets.has(modelURL)))
    func encodePair() throws {
        let tokenizer = try Checkpoint.open(Self.modelURL.path).tokenizer()
        let request = ZeroShotTokenRequest(.init(context: "The cat sat ", continuation: "down"), tokenizer: tokenizer)
        #expect(request.context == tokenizer.encode("The cat sat", addSpecial: false))
        #expect(request.continuation == tokenizer.encode(" down", addSpecial: false))
        let whole = tokenizer.encode("The cat sat down", addSpecial: false)
        #expect(request.context + request.continuation == whole)
    }

    @Test("batched, shared scoring equals one plain forward per request (SmolLM2)", .enabled(if: TestAssets.has(modelURL)))
    func scorerMatchesPlainForward() throws {
        let checkpoint = try Checkpoint.open(Self.modelURL.path)
        let tokenizer = try checkpoint.tokenizer()
        let model = try LanguageModel(checkpoint: checkpoint, maxSequenceLength: 64)
        let items = [ZeroShotItem.multipleChoice(context: "Question: Is the sky blue?\nAnswer:", choices: ["no", "yes"], gold: 1),
                     ZeroShotItem.multipleChoice(context: "The capital of France is", choices: ["Paris, of course.", "Rome", "a city"], gold: 0),
                     // Choices that share their first words (the prefix stops at the first scored token).
                     ZeroShotItem.multipleChoice(context: "She opened the door and", choices: ["the cat ran out.", "the cat sat down.", "left."], gold: 0),
                     // WinoGrande's partial scoring: contexts differ after a common start, one continuation.
                     ZeroShotItem(requests: [.init(context: "The trophy did not fit in the suitcase because the trophy", continuation: " was too big."),
                                             .init(context: "The trophy did not fit in the suitcase because the suitcase", continuation: " was too big.")],
                                  gold: 0, normalizationLengths: [1, 1])]
        let results = try ZeroShotEvaluation(scorer: ZeroShotScorer(maxLength: 64, threads: .single, activationBudget: 40_000))
            .score(items: items, model: model, tokenizer: tokenizer)
        let workspace = BlockWorkspace(configuration: model.configuration, capacity: 64, threads: .single)
        for (item, result) in zip(items, results) {
            for (request, ll) in zip(item.requests, result.logLikelihoods) {
                let encoded = ZeroShotTokenRequest(request, tokenizer: tokenizer)
                let whole = encoded.context + encoded.continuation
                let input = Array(whole.dropLast())
                let hidden = UnsafeMutablePointer<Float>.allocate(capacity: input.count * model.configuration.hiddenSize)
                defer { hidden.deallocate() }
                try model.embed(input, into: hidden)
                for index in 0..<model.configuration.layerCount {
                    try model.layer(index).forward(hidden, tokens: input.count, workspace: workspace)
                }
                var targets = [Int32](repeating: -1, count: input.count)
                for k in 0..<encoded.continuation.count { targets[input.count - encoded.continuation.count + k] = encoded.continuation[k] }
                let nll = model.negativeLogLikelihoods(hidden, tokens: input.count, targets: targets, threads: .single)
                let plain = -nll.reduce(0, +)
                #expect(abs(plain - ll) < 1e-4, "\(request.continuation): \(ll) vs plain \(plain)")
            }
        }
        // The same with prefix sharing switched off (every sequence run whole).
        let unshared = try ZeroShotEvaluation(scorer: ZeroShotScorer(maxLength: 64, threads: .single, sharesPrefixes: false))
            .score(items: items, model: model, tokenizer: tokenizer)
        for (shared, whole) in zip(results, unshared) {
            for (a, b) in zip(shared.logLikelihoods, whole.logLikelihoods) {
                #expect(abs(a - b) < 1e-4, "shared \(a) vs whole \(b)")
            }
        }
    }
}

/// `dlp eval` on a Hugging Face directory (what `dlp prune` writes) scores like the GGUF it came from.
@Suite("Zero-shot on a safetensors directory")
struct ZeroShotDirectoryTests {
    static let modelURL = TestAssets.model("smollm2-135m")

    @Test("an F32 export with tokenizer.json gives the GGUF's log-likelihoods", .enabled(if: TestAssets.has(modelURL)))
    func safetensorsDirectory() throws {
        let gguf = try Checkpoint.open(Self.modelURL.path)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dlp-zeroshot-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        try HuggingFaceExport.write(gguf, to: directory)
        try gguf.tokenizer().definition.writeHuggingFaceFiles(to: directory)
        let exported = try Checkpoint.open(directory.path)
        let items = [ZeroShotItem.multipleChoice(context: "Question: Which is a planet?\nAnswer:", choices: ["Mars", "the Moon"], gold: 0)]
        let evaluation = ZeroShotEvaluation(scorer: ZeroShotScorer(maxLength: 64, threads: .single))
        let a = try evaluation.score(items: items, model: LanguageModel(checkpoint: gguf, maxSequenceLength: 64),
                                     tokenizer: gguf.tokenizer())
        let b = try evaluation.score(items: items, model: LanguageModel(checkpoint: exported, maxSequenceLength: 64),
                                     tokenizer: exported.tokenizer())
        for (x, y) in zip(a[0].logLikelihoods, b[0].logLikelihoods) {
            #expect(abs(x - y) < 1e-3, "GGUF \(x) vs safetensors \(y)")
        }
    }
}
