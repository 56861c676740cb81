/// Why a tokenizer definition could not be read or built.
///
/// Every case names the source (a file name or "GGUF metadata"), the key or token involved, and
/// what to do next.
public enum TokenizerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A required key is absent.
    case missingKey(source: String, key: String)
    /// A key holds a value that cannot be used.
    case invalidValue(source: String, key: String, detail: String)
    /// The tokenizer model is not one this module implements.
    case unsupportedModel(source: String, found: String, supported: [String])
    /// The pre-tokenizer is not one this module implements.
    case unsupportedPreTokenizer(source: String, found: String, supported: [String])
    /// A merge names a token that is not in the vocabulary.
    case invalidMerge(source: String, index: Int, merge: String)

    public var description: String {
        switch self {
        case let .missingKey(source, key):
            return "\(source): missing key '\(key)'; the file does not carry a complete tokenizer, re-export it with its vocabulary."
        case let .invalidValue(source, key, detail):
            return "\(source): key '\(key)': \(detail)."
        case let .unsupportedModel(source, found, supported):
            return "\(source): tokenizer model '\(found)' is not supported; supported: \(supported.joined(separator: ", "))."
        case let .unsupportedPreTokenizer(source, found, supported):
            return "\(source): pre-tokenizer '\(found)' is not supported; supported: \(supported.joined(separator: ", "))."
        case let .invalidMerge(source, index, merge):
            return "\(source): merge #\(index) '\(merge)' names a token missing from the vocabulary; the vocabulary and merges do not belong together."
        }
    }
}
