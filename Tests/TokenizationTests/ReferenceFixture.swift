import Foundation
import TensorIO
import Tokenization
import _TestSupport

/// A golden fixture written by `scripts/reference/tokenizer_fixture.py` (HF `tokenizers`).
struct ReferenceFixture: Decodable {
    struct Digest: Decodable {
        var count: Int
        var sha256: String
    }

    struct Case: Decodable {
        var text: String
        var ids: [Int32]
    }

    var model: String
    var corpora: [String: Digest]
    var stress: [Case]

    static func load(_ model: String) throws -> ReferenceFixture {
        let data = try Data(contentsOf: TestAssets.fixture("tokenizer/\(model).json"))
        return try JSONDecoder().decode(ReferenceFixture.self, from: data)
    }

    /// The corpora, built exactly as the script builds them.
    static let corpusFiles: [String: URL] = [
        "wikitext2": TestAssets.wikitext2Test, "ptb": TestAssets.data("ptb/test.txt"), "c4": TestAssets.data("c4.utf8"),
    ]

    static func corpus(_ name: String) throws -> String {
        guard let url = corpusFiles[name] else { throw FixtureError(description: "unknown corpus \(name)") }
        let text = try String(contentsOf: url, encoding: .utf8)
        switch name {
        case "wikitext2":
            return text.split(separator: "\n", omittingEmptySubsequences: true).joined(separator: "\n\n")
        case "ptb":
            return text.split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }.joined(separator: " ")
        default:
            return text
        }
    }

    /// The generated HF `tokenizer.json` the script saves beside the asset cache.
    static func tokenizerJSON(_ model: String) -> URL {
        TestAssets.home.appendingPathComponent("tokenizers/\(model).json")
    }
}

/// A fixture that cannot be used as it is.
struct FixtureError: Error, CustomStringConvertible {
    var description: String
}

/// SHA-256 of token ids written as little-endian int32, as the reference script hashes them.
func idDigest(_ ids: [Int32]) -> String {
    let bytes = ids.map { $0.littleEndian }
    return bytes.withUnsafeBytes { SHA256Digest.hex($0) }
}
