/// Zero-shot evaluation failures, each naming the file or value and what to do.
public enum ZeroShotError: Error, CustomStringConvertible, Equatable {
    case unknownTask(name: String, valid: [String])
    case missingTaskFile(path: String, task: String)
    case invalidDocument(path: String, line: Int, reason: String)
    case emptyTask(path: String)
    case sequenceTooLong(tokens: Int, modelLimit: Int)
    case tokenOutOfRange(token: Int32, vocabularySize: Int)

    public var description: String {
        switch self {
        case let .unknownTask(name, valid):
            return "unknown task '\(name)'; valid: \(valid.joined(separator: ", "))"
        case let .missingTaskFile(path, task):
            return "cannot read \(path) (task \(task)); run `python3 scripts/assets.py zeroshot` "
                + "(or scripts/zeroshot_data.py), or pass --data-dir DIR holding \(task).jsonl"
        case let .invalidDocument(path, line, reason):
            return "\(path):\(line): \(reason)"
        case let .emptyTask(path):
            return "\(path) holds no documents"
        case let .sequenceTooLong(tokens, modelLimit):
            return "a request needs \(tokens) tokens but the model was prepared for \(modelLimit); lower --max-length"
        case let .tokenOutOfRange(token, vocabularySize):
            return "the tokenizer produced id \(token), outside the model's vocabulary of \(vocabularySize); "
                + "the tokenizer does not belong to this model"
        }
    }
}
