import Foundation

/// The prompts of lm-evaluation-harness's task definitions (`doc_to_text`, `doc_to_choice`,
/// `doc_to_target`, target delimiter `" "`), from documents with Hugging Face field names.
/// Written from the harness's task YAMLs (`super_glue/boolq`, `glue/rte`, `hellaswag`,
/// `winogrande`, `arc`, `openbookqa`, `piqa`, `lambada/lambada_openai`).
extension ZeroShotTask {
    /// The requests of one JSONL document. `line` and `path` only name the place in errors.
    public func item(fromJSON data: Data, line: Int, path: String) throws -> ZeroShotItem {
        let decoder = JSONDecoder()
        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            do { return try decoder.decode(type, from: data) } catch {
                throw ZeroShotError.invalidDocument(path: path, line: line, reason: Self.describe(error))
            }
        }
        func invalid(_ reason: String) -> ZeroShotError { .invalidDocument(path: path, line: line, reason: reason) }
        switch self {
        case .boolq:
            let d = try decode(BoolQDocument.self)
            return .multipleChoice(context: "\(d.passage)\nQuestion: \(d.question)?\nAnswer:", choices: ["no", "yes"],
                                   gold: d.answer ? 1 : 0)
        case .rte:
            let d = try decode(RTEDocument.self)
            guard (0...1).contains(d.label) else { throw invalid("label \(d.label), expected 0 (entailment) or 1") }
            return .multipleChoice(context: "\(d.sentence1)\nQuestion: \(d.sentence2) True or False?\nAnswer:",
                                   choices: ["True", "False"], gold: d.label)
        case .hellaswag:
            let d = try decode(HellaSwagDocument.self)
            guard let gold = Int(d.label), d.endings.indices.contains(gold) else {
                throw invalid("label '\(d.label)' is not an index into \(d.endings.count) endings")
            }
            let context = d.ctxA + " " + Self.pythonCapitalize(d.ctxB)
            return .multipleChoice(context: Self.hellaSwagClean(d.activityLabel + ": " + context),
                                   choices: d.endings.map(Self.hellaSwagClean), gold: gold)
        case .winogrande:
            let d = try decode(WinoGrandeDocument.self)
            guard let blank = d.sentence.firstIndex(of: "_") else { throw invalid("sentence has no '_' blank") }
            guard let gold = ["1": 0, "2": 1][d.answer] else { throw invalid("answer '\(d.answer)', expected \"1\" or \"2\"") }
            let prefix = String(d.sentence[..<blank])
            let target = d.sentence[d.sentence.index(after: blank)...].trimmingCharacters(in: .whitespacesAndNewlines)
            let contexts = [d.option1, d.option2].map { prefix + $0 }
            return ZeroShotItem(requests: contexts.map { .init(context: $0, continuation: " " + target) }, gold: gold,
                                normalizationLengths: contexts.map { $0.unicodeScalars.count })
        case .arcEasy, .arcChallenge:
            let d = try decode(ARCDocument.self)
            guard let gold = d.choices.label.firstIndex(of: d.answerKey) else {
                throw invalid("answerKey '\(d.answerKey)' is not among the labels \(d.choices.label)")
            }
            return .multipleChoice(context: "Question: \(d.question)\nAnswer:", choices: d.choices.text, gold: gold)
        case .openbookqa:
            let d = try decode(OpenBookQADocument.self)
            let key = String(d.answerKey.drop(while: { $0.isWhitespace }))
            guard let gold = d.choices.label.firstIndex(of: key) else {
                throw invalid("answerKey '\(d.answerKey)' is not among the labels \(d.choices.label)")
            }
            return .multipleChoice(context: d.questionStem, choices: d.choices.text, gold: gold)
        case .piqa:
            let d = try decode(PIQADocument.self)
            guard (0...1).contains(d.label) else { throw invalid("label \(d.label), expected 0 or 1") }
            return .multipleChoice(context: "Question: \(d.goal)\nAnswer:", choices: [d.sol1, d.sol2], gold: d.label)
        case .lambada:
            let d = try decode(LambadaDocument.self)
            // The harness splits on single spaces: context = all words but the last, target = " " + last.
            let words = d.text.split(separator: " ", omittingEmptySubsequences: false)
            guard words.count >= 2, let last = words.last else { throw invalid("text has no space before a last word") }
            let context = words.dropLast().joined(separator: " ")
            return ZeroShotItem(requests: [.init(context: context, continuation: " " + last)], gold: 0,
                                normalizationLengths: [last.unicodeScalars.count])
        }
    }

    /// HellaSwag's `preprocess`: strip, `" [title]"` → `". "`, remove `[...]` spans (not across
    /// a newline, as Python's `\[.*?\]`), then replace each double space by one space (one pass).
    public static func hellaSwagClean(_ text: String) -> String {
        let stripped = text.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: " [title]", with: ". ")
        let scalars = Array(stripped.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < scalars.count {
            if scalars[i] == "[" {
                var j = i + 1
                while j < scalars.count, scalars[j] != "]", scalars[j] != "\n" { j += 1 }
                if j < scalars.count, scalars[j] == "]" {
                    i = j + 1
                    continue
                }
            }
            out.append(scalars[i])
            i += 1
        }
        return String(out).replacingOccurrences(of: "  ", with: " ")
    }

    /// Python's `str.capitalize()`: the first character upper-cased, the rest lower-cased.
    public static func pythonCapitalize(_ text: String) -> String {
        guard let first = text.first else { return text }
        return first.uppercased() + text.dropFirst().lowercased()
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case let DecodingError.keyNotFound(key, _): return "missing field '\(key.stringValue)'"
        case let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context):
            return "field '\(context.codingPath.map(\.stringValue).joined(separator: "."))': \(context.debugDescription)"
        case let DecodingError.dataCorrupted(context): return "not valid JSON: \(context.debugDescription)"
        default: return "\(error)"
        }
    }
}

struct BoolQDocument: Decodable {
    var question: String
    var passage: String
    var answer: Bool
}

struct RTEDocument: Decodable {
    var sentence1: String
    var sentence2: String
    var label: Int
}

struct HellaSwagDocument: Decodable {
    var activityLabel: String
    var ctxA: String
    var ctxB: String
    var endings: [String]
    var label: String
    enum CodingKeys: String, CodingKey {
        case activityLabel = "activity_label", ctxA = "ctx_a", ctxB = "ctx_b", endings, label
    }
}

struct WinoGrandeDocument: Decodable {
    var sentence: String
    var option1: String
    var option2: String
    var answer: String
}

/// `choices` of ARC and OpenBookQA: parallel lists of texts and labels.
struct LabelledChoices: Decodable {
    var text: [String]
    var label: [String]
}

struct ARCDocument: Decodable {
    var question: String
    var choices: LabelledChoices
    var answerKey: String
}

struct OpenBookQADocument: Decodable {
    var questionStem: String
    var choices: LabelledChoices
    var answerKey: String
    enum CodingKeys: String, CodingKey { case questionStem = "question_stem", choices, answerKey }
}

struct PIQADocument: Decodable {
    var goal: String
    var sol1: String
    var sol2: String
    var label: Int
}

struct LambadaDocument: Decodable {
    var text: String
}
