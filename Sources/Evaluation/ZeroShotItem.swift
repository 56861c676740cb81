/// One question of a zero-shot task as text requests: for each choice a context and a
/// continuation whose log-likelihood given the context is scored (lm-evaluation-harness's
/// `loglikelihood` requests, target delimiter included in the continuation).
public struct ZeroShotItem: Sendable, Equatable {
    /// One `(context, continuation)` pair.
    public struct Request: Sendable, Equatable {
        public var context: String
        public var continuation: String

        public init(context: String, continuation: String) {
            self.context = context
            self.continuation = continuation
        }
    }

    /// One request per choice (LAMBADA: a single request, the last word).
    public var requests: [Request]
    /// Index of the correct choice (LAMBADA: 0).
    public var gold: Int
    /// The length `acc_norm` divides each choice's log-likelihood by: the harness's
    /// `len(choice)` in Unicode scalars, of the choice text without the target delimiter
    /// (WinoGrande: of the option-filled context, the harness's `doc_to_choice`).
    public var normalizationLengths: [Int]

    public init(requests: [Request], gold: Int, normalizationLengths: [Int]) {
        self.requests = requests
        self.gold = gold
        self.normalizationLengths = normalizationLengths
    }

    /// A question with one context and several choices, each continued after `delimiter`.
    public static func multipleChoice(context: String, choices: [String], gold: Int, delimiter: String = " ") -> ZeroShotItem {
        ZeroShotItem(requests: choices.map { Request(context: context, continuation: delimiter + $0) }, gold: gold,
                     normalizationLengths: choices.map { $0.unicodeScalars.count })
    }
}
