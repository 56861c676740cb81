/// Typed look-up of a checkpoint's configuration keys: GGUF metadata, or a `config.json` whose
/// nested objects are addressed with dotted keys (`rope_scaling.factor`).
public protocol MetadataLookup {
    /// An integer value (any integer type; a float with an integral value is not accepted).
    func int(_ key: String) -> Int?
    /// A floating-point value (integers are converted).
    func float(_ key: String) -> Float?
    /// A string value.
    func string(_ key: String) -> String?
    /// A boolean value.
    func bool(_ key: String) -> Bool?
    /// Whether the key is present at all, whatever its type.
    func contains(_ key: String) -> Bool
}

extension MetadataLookup {
    func requireInt(_ key: String, origin: String) throws -> Int {
        guard let value = int(key) else {
            throw contains(key) ? ModelError.invalidValue(key: key, value: "?", origin: origin, reason: "expected an integer")
                                : ModelError.missingKey(key: key, origin: origin)
        }
        return value
    }

    func requireFloat(_ key: String, origin: String) throws -> Float {
        guard let value = float(key) else {
            throw contains(key) ? ModelError.invalidValue(key: key, value: "?", origin: origin, reason: "expected a number")
                                : ModelError.missingKey(key: key, origin: origin)
        }
        return value
    }

    func requireString(_ key: String, origin: String) throws -> String {
        guard let value = string(key) else {
            throw contains(key) ? ModelError.invalidValue(key: key, value: "?", origin: origin, reason: "expected a string")
                                : ModelError.missingKey(key: key, origin: origin)
        }
        return value
    }
}
