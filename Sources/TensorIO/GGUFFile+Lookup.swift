extension GGUFFile {
    /// A metadata value as a string, or nil if absent or of another type.
    public func string(_ key: String) -> String? { metadata[key]?.string }
    /// A metadata value of any integer type.
    public func int(_ key: String) -> Int? { metadata[key]?.int }
    /// A metadata value of any numeric type, narrowed to Float.
    public func float(_ key: String) -> Float? { metadata[key]?.float.map(Float.init) }
    /// A boolean metadata value.
    public func bool(_ key: String) -> Bool? { metadata[key]?.bool }
    /// An array of strings.
    public func stringArray(_ key: String) -> [String]? { metadata[key]?.stringArray }
    /// An array of numbers, narrowed to Float.
    public func floatArray(_ key: String) -> [Float]? { metadata[key]?.floatArray }
    /// An array of integers.
    public func intArray(_ key: String) -> [Int]? { metadata[key]?.intArray }
    /// Whether the key is present.
    public func contains(_ key: String) -> Bool { metadata[key] != nil }
}
