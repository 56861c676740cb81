import Foundation

/// A perplexity corpus and how its text is assembled before tokenization (the protocol of
/// Wanda, SparseGPT, OWL and DLP; `DLP-METHOD.md` §8).
public enum PerplexityDataset: Sendable, Hashable {
    /// WikiText-2 raw test: lines joined with `"\n\n"`. The user supplies the file.
    case wikitext2(URL)
    /// Penn Treebank test: stripped lines joined with `" "`.
    case ptb(URL)
    /// C4 text, one document per line: documents joined with `" "`, at most 256 windows scored
    /// (as Wanda's C4 evaluation). Note: the default file is the same excerpt calibration samples.
    case c4(URL)
    /// Any UTF-8 text, used as is.
    case text(URL)

    /// Parses `wikitext2:PATH | ptb[:PATH] | c4[:PATH] | text:PATH`. Defaults for PTB and C4 are
    /// the files `scripts/assets.py` fetches into `home` (`data/ptb/test.txt`, `data/c4.utf8`);
    /// WikiText-2 is not redistributable, so its path is required.
    public static func parse(_ spec: String, home: URL) throws -> PerplexityDataset {
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        let name = parts.first ?? "", path = parts.count > 1 ? parts[1] : nil
        func file(_ given: String?, default relative: String?) throws -> URL {
            if let given, !given.isEmpty { return URL(fileURLWithPath: given) }
            if let relative { return home.appendingPathComponent(relative) }
            throw EvaluationError.invalidDataset(spec: spec, reason: "\(name) needs a path: \(name):PATH")
        }
        switch name {
        case "wikitext2": return .wikitext2(try file(path, default: nil))
        case "ptb": return .ptb(try file(path, default: "data/ptb/test.txt"))
        case "c4": return .c4(try file(path, default: "data/c4.utf8"))
        case "text": return .text(try file(path, default: nil))
        default:
            throw EvaluationError.invalidDataset(
                spec: spec, reason: "unknown dataset '\(name)'; valid: wikitext2:PATH, ptb[:PATH], c4[:PATH], text:PATH")
        }
    }

    /// Short name for reports.
    public var name: String {
        switch self {
        case .wikitext2: return "wikitext2"
        case .ptb: return "ptb"
        case .c4: return "c4"
        case .text: return "text"
        }
    }

    /// The file the text comes from.
    public var url: URL {
        switch self {
        case .wikitext2(let u), .ptb(let u), .c4(let u), .text(let u): return u
        }
    }

    /// Most windows the protocol scores (nil: all).
    public var windowLimit: Int? {
        if case .c4 = self { return 256 }
        return nil
    }

    /// How the text is assembled, for reports.
    public var assembly: String {
        switch self {
        case .wikitext2: return "lines joined with \"\\n\\n\""
        case .ptb: return "stripped lines joined with \" \""
        case .c4: return "documents joined with \" \", first 256 windows"
        case .text: return "file as is"
        }
    }

    /// Reads the file and assembles the text to tokenize.
    public func loadText() throws -> String {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw EvaluationError.unreadableFile(path: url.path, hint: Self.hint(for: self))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw EvaluationError.invalidText(path: url.path, reason: "not valid UTF-8")
        }
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map(String.init)
        switch self {
        case .wikitext2: return lines.filter { !$0.isEmpty }.joined(separator: "\n\n")
        case .ptb: return lines.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
        case .c4: return lines.filter { !$0.isEmpty }.joined(separator: " ")
        case .text: return text
        }
    }

    private static func hint(for dataset: PerplexityDataset) -> String {
        switch dataset {
        case .wikitext2: return "give the WikiText-2 raw test file: --dataset wikitext2:/path/to/wiki.test.raw"
        case .ptb, .c4: return "fetch it with `python3 scripts/assets.py default` or give a path"
        case .text: return "check the path"
        }
    }
}

/// Evaluation failures, each naming what and where.
public enum EvaluationError: Error, CustomStringConvertible, Equatable {
    case invalidDataset(spec: String, reason: String)
    case unreadableFile(path: String, hint: String)
    case invalidText(path: String, reason: String)
    case tooShort(dataset: String, tokens: Int, sequenceLength: Int)

    public var description: String {
        switch self {
        case let .invalidDataset(spec, reason): return "dataset '\(spec)': \(reason)"
        case let .unreadableFile(path, hint): return "cannot read \(path); \(hint)"
        case let .invalidText(path, reason): return "\(path): \(reason)"
        case let .tooShort(dataset, tokens, sequenceLength):
            return "\(dataset) has \(tokens) tokens, fewer than one window of \(sequenceLength); use a shorter --seqlen"
        }
    }
}

extension PerplexityDataset: Codable {
    /// Encoded as `name:path` (`"ptb:/home/u/.cache/dlp/data/ptb/test.txt"`), the form
    /// ``parse(_:home:)`` reads.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let spec = try c.decode(String.self)
        do { self = try PerplexityDataset.parse(spec, home: URL(fileURLWithPath: "/")) } catch let error as EvaluationError {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode("\(name):\(url.path)")
    }
}
