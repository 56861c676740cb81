/// SentencePiece-style BPE (GGUF `tokenizer.ggml.model = llama`: LLaMA 1/2, Mistral, Gemma).
///
/// Same procedure as llama.cpp's `llm_tokenizer_spm`: verbatim tokens are matched first; in each
/// remaining run spaces become `▁` (U+2581), with one `▁` prepended at the start and after each
/// verbatim token when `addSpacePrefix` is set; the run starts as one symbol per character, and
/// the adjacent pair whose concatenation is a vocabulary token with the highest score merges first
/// (leftmost on equal scores) until no pair is a token. A final symbol that is not a token is
/// written as its UTF-8 bytes with the `<0xNN>` byte tokens (or the unknown token if those are
/// absent). The whole run is one sequence: no whitespace pre-split.
public struct SentencePieceBPETokenizer: Tokenizer {
    public let definition: TokenizerDefinition
    private let verbatim: VerbatimTokenMatcher
    private let lookup: TokenLookup
    private let scores: [Float]
    /// Id of `<0xNN>` for each byte, -1 when missing.
    private let byteFallback: [Int32]
    /// Raw bytes each id decodes to (`▁` → space, byte tokens → their byte).
    private let tokenBytes: [[UInt8]]

    private static let spaceMark: [UInt8] = Array("\u{2581}".utf8)

    public init(_ definition: TokenizerDefinition) {
        self.definition = definition
        verbatim = VerbatimTokenMatcher(definition)
        lookup = TokenLookup(definition.tokens)
        scores = definition.scores
        var fallback = [Int32](repeating: -1, count: 256)
        var bytes: [[UInt8]] = []
        bytes.reserveCapacity(definition.tokens.count)
        for (id, token) in definition.tokens.enumerated() {
            if definition.tokenTypes[id] == .byte, let byte = SentencePieceBPETokenizer.byteValue(token) {
                if fallback[Int(byte)] < 0 { fallback[Int(byte)] = Int32(id) }
                bytes.append([byte])
            } else if definition.tokenTypes[id].isMatchedVerbatim {
                bytes.append(Array(token.utf8))
            } else {
                bytes.append(SentencePieceBPETokenizer.unescape(Array(token.utf8)))
            }
        }
        byteFallback = fallback
        tokenBytes = bytes
    }

    /// Token bytes with each `▁` (E2 96 81) replaced by a space, scalar-wise (a String replace
    /// would miss `▁` fused with a following combining mark into one Character).
    static func unescape(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if i + 2 < bytes.count && bytes[i] == 0xE2 && bytes[i + 1] == 0x96 && bytes[i + 2] == 0x81 {
                out.append(0x20)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    /// `<0xNN>` → NN.
    static func byteValue(_ token: String) -> UInt8? {
        let u = Array(token.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
    }

    public func encode(_ text: String, addSpecial: Bool) -> [Int32] {
        let scalars = ScalarText(text)
        var out: [Int32] = []
        out.reserveCapacity(scalars.bytes.count / 3 + 2)
        var previousWasToken = true
        verbatim.segments(scalars) { segment in
            switch segment {
            case .token(let id):
                out.append(id)
                previousWasToken = true
            case .text(let range):
                var escaped: [UInt8] = []
                let byteRange = scalars.byteOffsets[range.lowerBound]..<scalars.byteOffsets[range.upperBound]
                escaped.reserveCapacity(byteRange.count + 3)
                if definition.addSpacePrefix && previousWasToken { escaped.append(contentsOf: Self.spaceMark) }
                for byte in scalars.bytes[byteRange] {
                    if byte == 0x20 { escaped.append(contentsOf: Self.spaceMark) } else { escaped.append(byte) }
                }
                encodeRun(escaped, into: &out)
                previousWasToken = false
            }
        }
        return withSpecial(out, addSpecial: addSpecial)
    }

    /// A candidate merge of symbol `left` with its right neighbour, `size` bytes in all.
    private struct Bigram {
        var score: Float
        var left: Int32
        var size: Int32

        /// Heap order: higher score first, then the leftmost.
        @inline(__always)
        func precedes(_ other: Bigram) -> Bool {
            score > other.score || (score == other.score && left < other.left)
        }
    }

    private func encodeRun(_ bytes: [UInt8], into out: inout [Int32]) {
        // Symbols: one per UTF-8 character, a doubly linked list over byte spans.
        var start: [Int32] = [], length: [Int32] = [], prev: [Int32] = [], next: [Int32] = []
        var offset = 0
        while offset < bytes.count {
            let lead = bytes[offset]
            let width = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
            let size = min(width, bytes.count - offset)
            start.append(Int32(offset))
            length.append(Int32(size))
            prev.append(Int32(start.count - 2))
            next.append(Int32(start.count))
            offset += size
        }
        let count = start.count
        guard count > 0 else { return }
        next[count - 1] = -1

        var heap = BigramHeap()
        bytes.withUnsafeBufferPointer { buffer in
            func tryAdd(_ left: Int32, _ right: Int32) {
                guard left >= 0, right >= 0 else { return }
                let s = Int(start[Int(left)])
                let size = Int(length[Int(left)] + length[Int(right)])
                guard let id = lookup.id(of: UnsafeBufferPointer(rebasing: buffer[s..<(s + size)])) else { return }
                heap.push(Bigram(score: scores[Int(id)], left: left, size: Int32(size)))
            }
            for i in 1..<max(count, 1) { tryAdd(Int32(i - 1), Int32(i)) }
            while let bigram = heap.pop() {
                let left = Int(bigram.left)
                let right = Int(next[left])
                guard right >= 0, length[left] > 0, length[right] > 0,
                      length[left] + length[right] == bigram.size else { continue }
                length[left] += length[right]
                length[right] = 0
                next[left] = next[right]
                if next[right] >= 0 { prev[Int(next[right])] = Int32(left) }
                tryAdd(prev[left], Int32(left))
                tryAdd(Int32(left), next[left])
            }
            var i: Int32 = 0
            while i >= 0 {
                let s = Int(start[Int(i)]), size = Int(length[Int(i)])
                if let id = lookup.id(of: UnsafeBufferPointer(rebasing: buffer[s..<(s + size)])) {
                    out.append(id)
                } else {
                    for byte in buffer[s..<(s + size)] {
                        let id = byteFallback[Int(byte)]
                        if id >= 0 { out.append(id) } else if let unk = definition.unknownID { out.append(unk) }
                    }
                }
                i = next[Int(i)]
            }
        }
    }

    /// Binary max-heap of bigrams in `Bigram.precedes` order.
    private struct BigramHeap {
        private var items: [Bigram] = []

        mutating func push(_ item: Bigram) {
            items.append(item)
            var child = items.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard items[child].precedes(items[parent]) else { break }
                items.swapAt(child, parent)
                child = parent
            }
        }

        mutating func pop() -> Bigram? {
            guard let top = items.first else { return nil }
            let last = items.removeLast()
            if !items.isEmpty {
                items[0] = last
                var parent = 0
                while true {
                    let l = 2 * parent + 1, r = l + 1
                    var best = parent
                    if l < items.count && items[l].precedes(items[best]) { best = l }
                    if r < items.count && items[r].precedes(items[best]) { best = r }
                    if best == parent { break }
                    items.swapAt(parent, best)
                    parent = best
                }
            }
            return top
        }
    }

    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids where id >= 0 && Int(id) < tokenBytes.count {
            bytes.append(contentsOf: tokenBytes[Int(id)])
        }
        if definition.addSpacePrefix, bytes.first == 0x20 { bytes.removeFirst() }
        return String(decoding: bytes, as: UTF8.self)
    }
}
