/// Errors raised while turning a checkpoint into a model: what is wrong, where, and what to do.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    /// The architecture name is not one the tool implements.
    case unsupportedArchitecture(name: String, origin: String, supported: [String])
    /// A required configuration key is absent.
    case missingKey(key: String, origin: String)
    /// A configuration value is present but unusable.
    case invalidValue(key: String, value: String, origin: String, reason: String)
    /// A tensor the architecture needs is absent.
    case missingTensor(name: String, origin: String)
    /// A tensor has another shape than the configuration implies.
    case shapeMismatch(name: String, expected: [Int], actual: [Int], origin: String)
    /// Tensors the architecture does not use (loading is strict: nothing is silently ignored).
    case unexpectedTensors(names: [String], origin: String)
    /// A file the checkpoint needs beside its weights is absent.
    case missingFile(path: String, purpose: String)
    /// A model name or path that resolves to nothing.
    case modelNotFound(reference: String, searched: [String])

    public var description: String {
        switch self {
        case let .unsupportedArchitecture(name, origin, supported):
            return "\(origin): architecture '\(name)' is not supported; supported: \(supported.joined(separator: ", "))"
        case let .missingKey(key, origin):
            return "\(origin): required key '\(key)' is missing; the checkpoint's configuration is incomplete"
        case let .invalidValue(key, value, origin, reason):
            return "\(origin): key '\(key)' = \(value) is invalid: \(reason)"
        case let .missingTensor(name, origin):
            return "\(origin): tensor '\(name)' is missing; the checkpoint is incomplete or of another architecture"
        case let .shapeMismatch(name, expected, actual, origin):
            return "\(origin): tensor '\(name)' has shape \(actual), expected \(expected) from the configuration"
        case let .unexpectedTensors(names, origin):
            let shown = names.prefix(5).joined(separator: ", ") + (names.count > 5 ? ", … (\(names.count) in all)" : "")
            return "\(origin): tensors not used by the architecture: \(shown); the checkpoint holds more than this architecture defines"
        case let .missingFile(path, purpose):
            return "\(path) is missing; it is needed for \(purpose)"
        case let .modelNotFound(reference, searched):
            return "model '\(reference)' not found; looked at: \(searched.joined(separator: ", ")). Give a GGUF file, a safetensors directory, or fetch the model with `make assets` (scripts/assets.py)"
        }
    }
}
