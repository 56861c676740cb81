/// Errors of a fine-tuning setup: what is wrong and what is valid.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// A setting outside its valid range or set.
    case invalidSetting(name: String, value: String, valid: String)
    /// Saved state that does not fit the run it is handed to (resume).
    case stateMismatch(name: String, expected: String, actual: String)

    public var description: String {
        switch self {
        case let .invalidSetting(name, value, valid):
            return "\(name) '\(value)' is not valid; valid: \(valid)"
        case let .stateMismatch(name, expected, actual):
            return "saved \(name) does not fit this run: expected \(expected), found \(actual); resume with the settings it was saved with"
        }
    }
}
