import Foundation

/// A zero-shot task, as lm-evaluation-harness defines it (0-shot, no instructions; `DLP-METHOD.md` §8).
///
/// The raw value is the harness's task name and the stem of the task's JSONL file
/// (`<data dir>/<rawValue>.jsonl`, written by `scripts/zeroshot_data.py`).
public enum ZeroShotTask: String, CaseIterable, Sendable, Codable {
    case boolq
    case rte
    case hellaswag
    case winogrande
    case arcEasy = "arc_easy"
    case arcChallenge = "arc_challenge"
    case openbookqa
    case piqa
    case lambada

    /// The seven tasks whose mean the DLP paper reports, in its table order.
    public static let paperTasks: [ZeroShotTask] = [.boolq, .rte, .hellaswag, .winogrande, .arcEasy, .arcChallenge, .openbookqa]

    /// How the task's answer is scored.
    public enum Scoring: Sendable {
        /// One context per question, one continuation per choice (`acc`, `acc_norm`).
        case multipleChoice
        /// WinoGrande's partial scoring: one context per option, the same continuation scored after each.
        case partial
        /// LAMBADA: the last word is right when every one of its tokens is the greedy choice.
        case lastWord
    }

    public var scoring: Scoring {
        switch self {
        case .winogrande: return .partial
        case .lambada: return .lastWord
        default: return .multipleChoice
        }
    }

    /// The split lm-evaluation-harness evaluates (ARC and OpenBookQA: test; LAMBADA: OpenAI test).
    public var split: String {
        switch self {
        case .arcEasy, .arcChallenge, .openbookqa, .lambada: return "test"
        default: return "validation"
        }
    }

    /// Display name.
    public var title: String {
        switch self {
        case .boolq: return "BoolQ"
        case .rte: return "RTE"
        case .hellaswag: return "HellaSwag"
        case .winogrande: return "WinoGrande"
        case .arcEasy: return "ARC-e"
        case .arcChallenge: return "ARC-c"
        case .openbookqa: return "OBQA"
        case .piqa: return "PIQA"
        case .lambada: return "LAMBADA"
        }
    }

    /// The metric the DLP paper's mean uses for this task: `acc_norm` where the harness
    /// literature reports it (HellaSwag, ARC-Easy, ARC-Challenge, OpenBookQA), otherwise `acc`.
    public var paperMetric: ZeroShotMetric {
        switch self {
        case .hellaswag, .arcEasy, .arcChallenge, .openbookqa: return .accNorm
        default: return .acc
        }
    }

    /// Parses a comma-separated list (`boolq,rte,...`) or `all` (the seven paper tasks);
    /// `everything` adds PIQA and LAMBADA. Throws naming the valid names.
    public static func parseList(_ text: String) throws -> [ZeroShotTask] {
        if text == "all" { return paperTasks }
        if text == "everything" { return allCases }
        var tasks: [ZeroShotTask] = []
        for name in text.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            guard let task = ZeroShotTask(rawValue: trimmed) else {
                throw ZeroShotError.unknownTask(name: String(trimmed), valid: allCases.map(\.rawValue) + ["all", "everything"])
            }
            if !tasks.contains(task) { tasks.append(task) }
        }
        return tasks
    }
}

/// The two accuracy metrics of a multiple-choice task.
public enum ZeroShotMetric: String, Sendable, Codable {
    /// `argmax` of the summed continuation log-likelihood.
    case acc
    /// `argmax` of the log-likelihood divided by the choice's length in characters (Unicode scalars).
    case accNorm = "acc_norm"
}
