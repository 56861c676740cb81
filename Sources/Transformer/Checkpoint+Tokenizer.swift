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
}
