/// A text decoded once into Unicode scalars with their character class and UTF-8 offsets.
///
/// Index `i` is a scalar: `scalars[i]`, `classes[i]`, and its bytes are
/// `bytes[byteOffsets[i] ..< byteOffsets[i + 1]]` (`byteOffsets.count == scalars.count + 1`).
struct ScalarText {
    /// Regex character classes the pre-tokenizers distinguish.
    enum CharClass: UInt8 {
        /// `\p{L}`: general category Lu, Ll, Lt, Lm, Lo.
        case letter
        /// `\p{N}`: Nd, Nl, No.
        case number
        /// `\s`: the `White_Space` property.
        case space
        /// Anything else.
        case other
    }

    var bytes: [UInt8]
    var scalars: [UInt32] = []
    var classes: [CharClass] = []
    var byteOffsets: [Int] = []

    init(_ text: String) {
        bytes = Array(text.utf8)
        scalars.reserveCapacity(bytes.count)
        classes.reserveCapacity(bytes.count)
        byteOffsets.reserveCapacity(bytes.count + 1)
        var offset = 0
        for scalar in text.unicodeScalars {
            scalars.append(scalar.value)
            classes.append(ScalarText.classify(scalar))
            byteOffsets.append(offset)
            offset += UTF8.width(scalar)
        }
        byteOffsets.append(offset)
    }

    var count: Int { scalars.count }

    private static let asciiClasses: [CharClass] = (0..<128).map { value in
        classifySlow(Unicode.Scalar(UInt8(value)))
    }

    @inline(__always)
    static func classify(_ scalar: Unicode.Scalar) -> CharClass {
        scalar.value < 128 ? asciiClasses[Int(scalar.value)] : classifySlow(scalar)
    }

    private static func classifySlow(_ scalar: Unicode.Scalar) -> CharClass {
        let properties = scalar.properties
        if properties.isWhitespace { return .space }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }
}
