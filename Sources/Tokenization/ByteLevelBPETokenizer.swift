/// GPT-2 style byte-level BPE (SmolLM, Qwen2, LLaMA-3).
///
/// Encoding: verbatim tokens are matched first; each remaining run is split by the pre-tokenizer;
/// each pre-token's UTF-8 bytes start as single-byte tokens and the adjacent pair with the lowest
/// merge rank (leftmost on ties) is merged until none is in the merge table — the procedure of
/// Hugging Face `tokenizers`' BPE model. A byte without a single-byte token (SmolLM2 has none
/// for 21 bytes such as 0x04 and 0xC0) is dropped, as that model does without an unknown token.
/// Pre-token results are cached per `encode` call, since
/// natural text repeats words.
public struct ByteLevelBPETokenizer: Tokenizer {
    public let definition: TokenizerDefinition
    private let preTokenizer: PreTokenizer
    private let verbatim: VerbatimTokenMatcher
    /// Token id of each single byte.
    private let byteTokenID: [Int32]
    /// `(left << 32 | right)` → `(rank << 32 | merged)`.
    private let mergeTable: [UInt64: UInt64]
    /// Raw bytes each id decodes to (verbatim tokens: their UTF-8 text).
    private let tokenBytes: [[UInt8]]

    /// Builds the tables; throws when a merge names a token missing from the vocabulary.
    public init(_ definition: TokenizerDefinition) throws(TokenizerError) {
        guard definition.model == .byteLevelBPE, let preTokenizer = definition.preTokenizer else {
            throw .invalidValue(source: definition.source, key: "model", detail: "not a byte-level BPE definition")
        }
        self.definition = definition
        self.preTokenizer = preTokenizer
        verbatim = VerbatimTokenMatcher(definition)

        var ids: [String: Int32] = [:]
        ids.reserveCapacity(definition.tokens.count)
        var bytes: [[UInt8]] = []
        bytes.reserveCapacity(definition.tokens.count)
        for (id, token) in definition.tokens.enumerated() {
            if ids[token] == nil { ids[token] = Int32(id) }
            if definition.tokenTypes[id].isMatchedVerbatim {
                bytes.append(Array(token.utf8))
            } else {
                bytes.append(ByteLevelAlphabet.bytes(of: token) ?? Array(token.utf8))
            }
        }
        tokenBytes = bytes

        var byteIDs = [Int32](repeating: -1, count: 256)
        for byte in 0..<256 {
            byteIDs[byte] = ids[String(Character(ByteLevelAlphabet.scalarForByte[byte]))] ?? -1
        }
        byteTokenID = byteIDs

        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(definition.merges.count)
        for (rank, merge) in definition.merges.enumerated() {
            guard let parts = TokenizerDefinition.splitMerge(merge), let left = ids[parts.left],
                  let right = ids[parts.right], let merged = ids[parts.left + parts.right] else {
                throw .invalidMerge(source: definition.source, index: rank, merge: merge)
            }
            let key = UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
            if table[key] == nil { table[key] = UInt64(rank) << 32 | UInt64(UInt32(merged)) }
        }
        mergeTable = table
    }

    public func encode(_ text: String, addSpecial: Bool) -> [Int32] {
        let scalars = ScalarText(text)
        var out: [Int32] = []
        out.reserveCapacity(scalars.bytes.count / 3 + 2)
        var cache: [ArraySlice<UInt8>: [Int32]] = [:]
        verbatim.segments(scalars) { segment in
            switch segment {
            case .token(let id):
                out.append(id)
            case .text(let range):
                preTokenizer.split(scalars, range) { piece in
                    let key = scalars.bytes[scalars.byteOffsets[piece.lowerBound]..<scalars.byteOffsets[piece.upperBound]]
                    if let ids = cache[key] {
                        out.append(contentsOf: ids)
                    } else {
                        let ids = merge(key)
                        cache[key] = ids
                        out.append(contentsOf: ids)
                    }
                }
            }
        }
        return withSpecial(out, addSpecial: addSpecial)
    }

    /// BPE on one pre-token: lowest-rank adjacent pair first, leftmost on ties.
    func merge(_ bytes: ArraySlice<UInt8>) -> [Int32] {
        var symbols: [Int32] = []
        symbols.reserveCapacity(bytes.count)
        for byte in bytes where byteTokenID[Int(byte)] >= 0 { symbols.append(byteTokenID[Int(byte)]) }
        while symbols.count > 1 {
            var best = UInt64.max
            var position = -1
            for p in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(symbols[p])) << 32 | UInt64(UInt32(symbols[p + 1]))
                if let value = mergeTable[key], value < best {
                    best = value
                    position = p
                }
            }
            guard position >= 0 else { break }
            symbols[position] = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
            symbols.remove(at: position + 1)
        }
        return symbols
    }

    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids where id >= 0 && Int(id) < tokenBytes.count {
            bytes.append(contentsOf: tokenBytes[Int(id)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
