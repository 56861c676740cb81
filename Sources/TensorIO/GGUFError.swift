/// A GGUF file that cannot be read or written, naming the file, the key or tensor, the byte offset,
/// what was expected and what was found, and what to do about it.
///
/// Readers throw it for every malformed input (GGUF files are untrusted); `kind` is the stable,
/// testable part, `description` the human one.
public struct GGUFError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong.
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// The file could not be opened, mapped, written or renamed.
        case io
        /// The file ends inside a header, key, value or tensor info.
        case truncated
        /// The first four bytes are not `GGUF`.
        case badMagic
        /// Version 1 (32-bit counts) or newer than 3, or a big-endian file.
        case unsupportedVersion
        /// A tensor, key, string or array count that cannot fit in the remaining bytes.
        case countTooLarge
        /// A metadata value type id outside 0...12, or arrays nested too deeply.
        case invalidValueType
        /// `general.alignment` is not a non-zero power of two stored as uint32.
        case invalidAlignment
        /// Tensor data that extends past the end of the file.
        case offsetOutOfBounds
        /// Two tensors whose data ranges overlap.
        case overlappingTensors
        /// A tensor data offset that is not a multiple of the alignment.
        case misalignedOffset
        /// A ggml type id this reader does not know or cannot decode.
        case unknownType
        /// Zero, negative or too many dimensions, a row that is not whole blocks, a size overflow,
        /// or a byte count that does not match the shape.
        case shapeMismatch
        /// Two tensors with the same name.
        case duplicateTensor
        /// Two metadata entries with the same key.
        case duplicateKey
        /// A key, value or tensor name that is not valid UTF-8.
        case invalidUTF8
        /// A tensor name that the file does not contain.
        case tensorNotFound
    }

    /// What went wrong.
    public var kind: Kind
    /// The file being read or written.
    public var file: String
    /// The metadata key or tensor name concerned, if any.
    public var subject: String?
    /// Byte offset in the file where the problem was found, if known.
    public var offset: Int?
    /// What a valid file has there.
    public var expected: String?
    /// What this file has there.
    public var actual: String?
    /// What to do next.
    public var hint: String

    public init(_ kind: Kind, file: String, subject: String? = nil, offset: Int? = nil,
                expected: String? = nil, actual: String? = nil, hint: String) {
        self.kind = kind
        self.file = file
        self.subject = subject
        self.offset = offset
        self.expected = expected
        self.actual = actual
        self.hint = hint
    }

    public var description: String {
        var text = "GGUF error (\(kind.rawValue)) in \(file)"
        if let subject { text += ", '\(subject)'" }
        if let offset { text += ", at byte \(offset)" }
        if let expected { text += ": expected \(expected)" }
        if let actual { text += (expected == nil ? ": found " : ", found ") + actual }
        return text + "\nHINT: " + hint
    }
}
