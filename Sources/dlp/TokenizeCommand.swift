import Foundation
import Tokenization
import Transformer

/// `dlp tokenize MODEL [--file PATH | TEXT] [--json]`: token ids, for debugging.
struct TokenizeCommand: Command {
    static let name = "tokenize"
    static let summary = "print the token ids of a text or file with a model's tokenizer"
    static let synopsis = "usage: dlp tokenize MODEL (TEXT | --file PATH) [--no-special] [--decode] [--bench] [--json]"
    static let text = Option("TEXT", nil, "text to tokenize (or --file PATH for a UTF-8 file)")
    static let file = Option("--file", "PATH", "tokenize a UTF-8 file")
    static let noSpecial = Option("--no-special", nil, "do not add BOS/EOS even if the model's tokenizer would")
    static let decode = Option("--decode", nil, "also print each id's text")
    static let bench = Option("--bench", nil, "report tokenization throughput (MB/s, best of 3) instead of ids")
    static let json = Option("--json", nil, "{\"count\": N, \"ids\": [...]} on stdout")
    static let options = [modelArgument, text, file, noSpecial, decode, bench, json]
    let model: String
    let text: String
    let source: String
    let addSpecial: Bool
    let decode: Bool
    let bench: Bool
    let json: Bool

    init(arguments: inout Arguments) throws {
        json = arguments.flag(Self.json)
        addSpecial = !arguments.flag(Self.noSpecial)
        decode = arguments.flag(Self.decode)
        bench = arguments.flag(Self.bench)
        let file = try arguments.value(Self.file)
        model = try arguments.positional(modelArgument)
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else { throw UsageError("--file \(file): cannot read it") }
            guard let string = String(data: data, encoding: .utf8) else { throw UsageError("--file \(file): not valid UTF-8") }
            text = string
            source = file
        } else {
            text = try arguments.positional(Self.text)
            source = "argument"
        }
    }

    func run() throws {
        let tokenizer = try Checkpoint.open(model).tokenizer()
        if bench {
            let r = TokenizerBenchmark.measure(tokenizer, text: text)
            print(String(format: "%@: %d bytes → %d tokens in %.3f s: %.1f MB/s (best of 3, one thread)",
                         source, r.bytes, r.tokens, r.seconds, r.megabytesPerSecond))
            return
        }
        let ids = tokenizer.encode(text, addSpecial: addSpecial)
        if json {
            let object: [String: Any] = ["count": ids.count, "ids": ids.map(Int.init)]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else if decode {
            for id in ids { print("\(id)\t\(tokenizer.decode([id]).debugDescription)") }
            print("\(ids.count) tokens")
        } else {
            print(ids.map(String.init).joined(separator: " "))
            print("\(ids.count) tokens")
        }
    }
}
