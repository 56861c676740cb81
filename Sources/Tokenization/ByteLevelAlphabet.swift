/// GPT-2's byte-to-unicode mapping: each byte is shown as one printable scalar so byte-level
/// tokens are strings. Bytes `!`…`~`, `¡`…`¬`, `®`…`ÿ` map to themselves; the other 68 bytes map,
/// in byte order, to U+0100, U+0101, … (so space → `Ġ` U+0120, newline → `Ċ` U+010A).
enum ByteLevelAlphabet {
    /// Scalar for each byte.
    static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(next) ?? "\0"
                next += 1
            }
        }
        return table
    }()

    /// Byte for each scalar of the alphabet (inverse of `scalarForByte`).
    static let byteForScalar: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (byte, scalar) in scalarForByte.enumerated() { map[scalar.value] = UInt8(byte) }
        return map
    }()

    /// The raw bytes of a byte-level token string, or `nil` when a scalar is outside the alphabet.
    static func bytes(of token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for scalar in token.unicodeScalars {
            guard let byte = byteForScalar[scalar.value] else { return nil }
            out.append(byte)
        }
        return out
    }
}
