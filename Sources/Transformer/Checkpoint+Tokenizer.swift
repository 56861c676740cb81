import Foundation
import TensorIO
import Tokenization

extension Checkpoint {
    /// The checkpoint's tokenizer: from the GGUF vocabulary, or from `tokenizer.json` in a
    /// Hugging Face directory.
    public func tokenizer() throws -> any Tokenizer {
        switch format {
        case .gguf:
            guard let file = source as? GGUFFile else { throw ModelError.missingKey(key: "tokenizer.ggml.model", origin: url.path) }
            return try TokenizerDefinition(metadata: file).makeTokenizer()
        case .safetensors:
            let path = url.appendingPathComponent("tokenizer.json")
            guard let data = FileManager.default.contents(atPath: path.path) else {
                throw ModelError.missingFile(path: path.path, purpose: "the tokenizer (copy tokenizer.json from the original model)")
            }
            return try TokenizerDefinition(tokenizerJSON: data, source: path.path).makeTokenizer()
        }
    }

    /// The chat template the model carries (a Jinja program): GGUF `tokenizer.chat_template`, or
    /// `chat_template` of `tokenizer_config.json` beside a safetensors checkpoint; nil if none.
    public func chatTemplate() -> String? {
        if let file = source as? GGUFFile { return file.string("tokenizer.chat_template") }
        let path = url.appendingPathComponent("tokenizer_config.json")
        guard let data = FileManager.default.contents(atPath: path.path),
              let json = try? JSONValue.parse([UInt8](data)) else { return nil }
        return json["chat_template"]?.stringValue
    }
}
