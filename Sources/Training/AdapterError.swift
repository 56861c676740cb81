/// Why a LoRA adapter directory cannot be read or applied: the file, the key or tensor, what was
/// expected and what was found.
public enum AdapterError: Error, CustomStringConvertible, Equatable {
    /// A file of the adapter is missing or not what it should be (not JSON, not safetensors).
    case unreadable(path: String, reason: String)
    /// A key of `adapter_config.json` is missing or has the wrong type or value.
    case invalidConfig(path: String, key: String, found: String, expected: String)
    /// A valid PEFT setting this reader does not apply (DoRA, per-module ranks, a regex target, ...).
    case unsupported(path: String, key: String, value: String, reason: String)
    /// A tensor the configuration promises is not in the weights file.
    case missingTensor(path: String, key: String)
    /// A tensor of the weights file belongs to no adapter of the configuration.
    case unexpectedTensor(path: String, key: String)
    /// A tensor's shape does not fit the rank and the model's linear.
    case wrongShape(path: String, key: String, expected: [Int], actual: [Int])
    /// A tensor in a type that is not F32, F16 or BF16.
    case wrongType(path: String, key: String, dtype: String)
    /// A value that is NaN or infinite.
    case nonFinite(path: String, key: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "adapter file \(path): \(reason)"
        case let .invalidConfig(path, key, found, expected):
            return "adapter config \(path): \"\(key)\" is \(found), expected \(expected)"
        case let .unsupported(path, key, value, reason):
            return "adapter config \(path): \"\(key)\" = \(value) is not supported: \(reason)"
        case let .missingTensor(path, key):
            return "adapter weights \(path): no tensor \(key); the adapter does not cover every block of its targets, or was made for another model"
        case let .unexpectedTensor(path, key):
            return "adapter weights \(path): unexpected tensor \(key) (not a LoRA A/B of the configured target_modules); only LoRA adapters of the seven block linears can be applied"
        case let .wrongShape(path, key, expected, actual):
            return "adapter weights \(path): \(key) has shape \(actual), expected \(expected) for this model and rank; was the adapter made for another model?"
        case let .wrongType(path, key, dtype):
            return "adapter weights \(path): \(key) is \(dtype); expected F32, F16 or BF16"
        case let .nonFinite(path, key):
            return "adapter weights \(path): \(key) holds NaN or infinite values"
        }
    }
}
