/// Finds control and user-defined tokens in text, leftmost-longest, as a byte trie.
///
/// Same matching rule as Hugging Face's added-token splitter (Aho–Corasick, leftmost-longest) for
/// tokens without lstrip/rstrip/single-word options.
struct VerbatimTokenMatcher: Sendable {
    private struct Node: Sendable {
        var children: [UInt8: Int32] = [:]
        var tokenID: Int32 = -1
    }

    private var nodes: [Node] = [Node()]
    private var firstByte = [Bool](repeating: false, count: 256)

    /// Tokens of `definition` whose type is control or user-defined.
    init(_ definition: TokenizerDefinition) {
        for (id, type) in definition.tokenTypes.enumerated() where type.isMatchedVerbatim {
            insert(Array(definition.tokens[id].utf8), id: Int32(id))
        }
    }

    var isEmpty: Bool { nodes.count == 1 }

    private mutating func insert(_ bytes: [UInt8], id: Int32) {
        guard let first = bytes.first else { return }
        firstByte[Int(first)] = true
        var node = 0
        for byte in bytes {
            if let child = nodes[node].children[byte] {
                node = Int(child)
            } else {
                nodes.append(Node())
                nodes[node].children[byte] = Int32(nodes.count - 1)
                node = nodes.count - 1
            }
        }
        if nodes[node].tokenID < 0 { nodes[node].tokenID = id }
    }

    /// The longest token starting at byte `start`: its id and byte length.
    @inline(__always)
    func match(_ bytes: [UInt8], at start: Int) -> (id: Int32, length: Int)? {
        guard firstByte[Int(bytes[start])] else { return nil }
        var node = 0
        var best: (Int32, Int)? = nil
        var i = start
        while i < bytes.count, let child = nodes[node].children[bytes[i]] {
            node = Int(child)
            i += 1
            if nodes[node].tokenID >= 0 { best = (nodes[node].tokenID, i - start) }
        }
        return best
    }

    /// Splits `text` into runs of ordinary scalars and verbatim tokens, in order.
    func segments(_ text: ScalarText, _ visit: (Segment) -> Void) {
        var runStart = 0
        var i = 0
        let count = text.count
        while i < count {
            if !isEmpty, let (id, length) = match(text.bytes, at: text.byteOffsets[i]) {
                if runStart < i { visit(.text(runStart..<i)) }
                visit(.token(id))
                let endByte = text.byteOffsets[i] + length
                while text.byteOffsets[i] < endByte { i += 1 }
                runStart = i
            } else {
                i += 1
            }
        }
        if runStart < count { visit(.text(runStart..<count)) }
    }

    enum Segment {
        /// Ordinary text: a scalar range.
        case text(Range<Int>)
        /// A verbatim token.
        case token(Int32)
    }
}
