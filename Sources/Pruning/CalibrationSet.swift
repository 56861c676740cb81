import Foundation
import TensorCore
import TensorIO
import Tokenization
import Transformer

/// How calibration windows are drawn from a corpus of documents (`DLP-METHOD.md` §7).
public enum CalibrationSampling: String, Sendable, Codable, CaseIterable {
    /// The reference procedure: draw a random document, redraw while it has ≤ T tokens, take a
    /// random T-token window of it. Each document is tokenized on its own.
    case documents
    /// Cut the concatenation of all documents (joined with `"\n\n"`, tokenized once) into
    /// non-overlapping T-token windows and draw N of them at random without replacement.
    case stream

    public static func parse(_ text: String) throws -> CalibrationSampling {
        guard let value = CalibrationSampling(rawValue: text) else {
            throw PruningError.invalidSetting(name: "sampling", value: text, valid: allCases.map(\.rawValue).joined(separator: ", "))
        }
        return value
    }
}

/// Where calibration text comes from: a file of documents.
///
/// Formats: `.jsonl` files hold one JSON object per line with a `"text"` field; any other file
/// holds one document per line (the C4 excerpt's format); blank lines are skipped.
public struct CalibrationSource: Sendable, Codable, Equatable {
    /// Short name for reports (`c4` for the default excerpt, else the file name).
    public var name: String
    public var path: String

    public init(name: String, path: String) {
        self.name = name
        self.path = path
    }

    /// Reads the documents.
    public func documents() throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CalibrationError.unreadable(path: path)
        }
        guard let text = String(data: data, encoding: .utf8) else { throw CalibrationError.notText(path: path, line: nil) }
        var documents = [String]()
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            if path.hasSuffix(".jsonl") {
                guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any],
                      let text = object["text"] as? String else {
                    throw CalibrationError.notText(path: path, line: number + 1)
                }
                documents.append(text)
            } else {
                documents.append(String(line))
            }
        }
        if documents.isEmpty { throw CalibrationError.empty(path: path) }
        return documents
    }
}

extension CalibrationSource {
    /// The C4 excerpt `scripts/assets.py` fetches into the asset home (`$DLP_HOME/data/c4.utf8`).
    public static func fetchedC4(home: URL = ModelReference.home()) -> CalibrationSource {
        CalibrationSource(name: "c4", path: home.appendingPathComponent("data/c4.utf8").path)
    }
}

/// Calibration settings: validated values, recorded in every manifest.
public struct CalibrationSettings: Sendable, Codable, Equatable {
    public var source: CalibrationSource
    public var sampling: CalibrationSampling
    public var samples: Int
    public var sequenceLength: Int
    public var seed: UInt64

    public init(source: CalibrationSource, sampling: CalibrationSampling, samples: Int, sequenceLength: Int, seed: UInt64) {
        self.source = source
        self.sampling = sampling
        self.samples = samples
        self.sequenceLength = sequenceLength
        self.seed = seed
    }
}

/// The token windows a pruning run calibrates on, with their identity.
public struct CalibrationSet: Sendable {
    public var settings: CalibrationSettings
    /// `samples` windows of `sequenceLength` token ids.
    public var windows: [[Int32]]
    /// sha256 of the source file.
    public var sourceDigest: String
    /// sha256 of the windows' ids (little-endian int32, window after window): two runs calibrate
    /// on the same data exactly when these agree.
    public var windowsDigest: String

    /// Draws the windows: seeded and deterministic (same settings and tokenizer → same windows).
    /// The generator is this project's SplitMix64, so windows differ from the Python reference's
    /// `random.seed(0)` draws; export them (``CalibrationSet/writeJSON(to:)``) to compare.
    public init(settings s: CalibrationSettings, tokenizer: any Tokenizer) throws {
        let documents = try s.source.documents()
        var generator = SeededGenerator(seed: s.seed)
        let t = s.sequenceLength
        var windows = [[Int32]]()
        switch s.sampling {
        case .documents:
            let tokenized = documents.map { tokenizer.encode($0, addSpecial: true) }
            let long = tokenized.indices.filter { tokenized[$0].count > t }
            guard !long.isEmpty else {
                throw CalibrationError.tooShort(path: s.source.path, detail: "no document has more than \(t) tokens; use --sampling stream or a shorter --seqlen")
            }
            for _ in 0..<s.samples {
                // Redrawing until a long document comes up is drawing uniformly among the long ones.
                let ids = tokenized[long[Int(generator.next() % UInt64(long.count))]]
                let start = Int(generator.next() % UInt64(ids.count - t))
                windows.append(Array(ids[start..<(start + t)]))
            }
        case .stream:
            let ids = tokenizer.encode(documents.joined(separator: "\n\n"), addSpecial: true)
            let slots = ids.count / t
            guard slots >= s.samples else {
                throw CalibrationError.tooShort(path: s.source.path, detail: "\(ids.count) tokens hold \(slots) windows of \(t), fewer than the \(s.samples) requested; lower --samples or --seqlen, or give a larger file")
            }
            var order = Array(0..<slots)
            for i in stride(from: slots - 1, to: 0, by: -1) { order.swapAt(i, Int(generator.next() % UInt64(i + 1))) }
            windows = order.prefix(s.samples).map { Array(ids[($0 * t)..<(($0 + 1) * t)]) }
        }
        settings = s
        self.windows = windows
        sourceDigest = try SHA256Digest.file(URL(fileURLWithPath: s.source.path))
        var digest = SHA256Digest()
        for window in windows { window.map(\.littleEndian).withUnsafeBytes { digest.update($0) } }
        windowsDigest = digest.finalizeHex()
    }

    /// Writes `{"settings": ..., "windows_sha256": ..., "windows": [[ids]]}` (for reference scripts).
    public func writeJSON(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let payload = Export(settings: settings, sourceSHA256: sourceDigest, windowsSHA256: windowsDigest, windows: windows)
        try encoder.encode(payload).write(to: url, options: .atomic)
    }

    struct Export: Encodable {
        var settings: CalibrationSettings
        var sourceSHA256: String
        var windowsSHA256: String
        var windows: [[Int32]]
        enum CodingKeys: String, CodingKey {
            case settings, sourceSHA256 = "source_sha256", windowsSHA256 = "windows_sha256", windows
        }
    }
}

/// Calibration failures: what, where, what to do.
public enum CalibrationError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String)
    case notText(path: String, line: Int?)
    case empty(path: String)
    case tooShort(path: String, detail: String)

    public var description: String {
        switch self {
        case .unreadable(let path): return "calibration file \(path) cannot be read; give --calibration c4 or a readable PATH"
        case let .notText(path, line):
            return "calibration file \(path)\(line.map { " line \($0)" } ?? ""): " + (line == nil ? "not UTF-8 text" : "not a JSON object with a \"text\" string")
        case .empty(let path): return "calibration file \(path) holds no documents"
        case let .tooShort(path, detail): return "calibration file \(path): \(detail)"
        }
    }
}
