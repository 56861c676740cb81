/// Regex-equivalent scanners. Each `scan…` returns the end (exclusive scalar index) of the
/// pre-token that starts at `i`, never reading past `end`; `end` behaves as the end of the string
/// (so `(?!\S)` succeeds there), matching splitters that run the regex on each earlier split.
/// Alternatives are tried in the regex's order with the same greedy/backtracking outcome.
extension PreTokenizer {
    /// Splits `text[range]` into pre-tokens, calling `emit` with each scalar range in order.
    func split(_ text: ScalarText, _ range: Range<Int>, _ emit: (Range<Int>) -> Void) {
        switch self {
        case .gpt2:
            PreTokenizer.run(text, range, emit, PreTokenizer.scanGPT2)
        case .smollm:
            var start = range.lowerBound
            for i in range where text.classes[i] == .number {
                if start < i { PreTokenizer.run(text, start..<i, emit, PreTokenizer.scanGPT2) }
                emit(i..<(i + 1))
                start = i + 1
            }
            if start < range.upperBound { PreTokenizer.run(text, start..<range.upperBound, emit, PreTokenizer.scanGPT2) }
        case .qwen2:
            PreTokenizer.run(text, range, emit) { PreTokenizer.scanQwen2($0, $1, $2, maxDigits: 1) }
        case .llamaBPE:
            PreTokenizer.run(text, range, emit) { PreTokenizer.scanQwen2($0, $1, $2, maxDigits: 3) }
        }
    }

    private static func run(_ text: ScalarText, _ range: Range<Int>, _ emit: (Range<Int>) -> Void,
                            _ scan: (ScalarText, Int, Int) -> Int) {
        var i = range.lowerBound
        while i < range.upperBound {
            let next = scan(text, i, range.upperBound)
            emit(i..<next)
            i = next
        }
    }

    private static let apostrophe: UInt32 = 0x27, space: UInt32 = 0x20, cr: UInt32 = 0x0D, lf: UInt32 = 0x0A

    /// `'s|'t|'re|'ve|'m|'ll|'d` at `i`, case-sensitive or (`(?i:…)`) with simple case folding.
    private static func contraction(_ t: ScalarText, _ i: Int, _ end: Int, ignoreCase: Bool) -> Int? {
        guard t.scalars[i] == apostrophe, i + 1 < end else { return nil }
        func lower(_ v: UInt32) -> UInt32 {
            guard ignoreCase else { return v }
            if v >= 0x41 && v <= 0x5A { return v + 0x20 }
            if v == 0x17F { return 0x73 }  // ſ folds to s
            return v
        }
        let a = lower(t.scalars[i + 1])
        if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return i + 2 }  // s t m d
        guard i + 2 < end else { return nil }
        let b = lower(t.scalars[i + 2])
        if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return i + 3 }  // re ve ll
        return nil
    }

    @inline(__always)
    private static func run(of cls: ScalarText.CharClass, _ t: ScalarText, from i: Int, _ end: Int) -> Int {
        var j = i
        while j < end && t.classes[j] == cls { j += 1 }
        return j
    }

    /// `\s+(?!\S)|\s+` at a whitespace scalar `i`: the whitespace run, less its last scalar when
    /// a non-space follows and the run is longer than one.
    @inline(__always)
    private static func whitespace(_ t: ScalarText, _ i: Int, _ end: Int) -> Int {
        let k = run(of: .space, t, from: i, end)
        if k == end || k - i == 1 { return k }
        return k - 1
    }

    static func scanGPT2(_ t: ScalarText, _ i: Int, _ end: Int) -> Int {
        if let j = contraction(t, i, end, ignoreCase: false) { return j }
        let c = t.classes[i]
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
        var j = i
        if t.scalars[i] == space && i + 1 < end && t.classes[i + 1] != .space { j = i + 1 }
        let cj = t.classes[j]
        if cj != .space { return run(of: cj, t, from: j + 1, end) }
        precondition(c == .space)
        return whitespace(t, i, end)
    }

    static func scanQwen2(_ t: ScalarText, _ i: Int, _ end: Int, maxDigits: Int) -> Int {
        if let j = contraction(t, i, end, ignoreCase: true) { return j }
        let c = t.classes[i]
        let s = t.scalars[i]
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        if c == .letter { return run(of: .letter, t, from: i + 1, end) }
        if c != .number && s != cr && s != lf && i + 1 < end && t.classes[i + 1] == .letter {
            return run(of: .letter, t, from: i + 2, end)
        }
        // `\p{N}{1,maxDigits}`
        if c == .number {
            var j = i + 1
            while j < end && j - i < maxDigits && t.classes[j] == .number { j += 1 }
            return j
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        var j = i
        if s == space && i + 1 < end && t.classes[i + 1] == .other { j = i + 1 }
        if t.classes[j] == .other {
            var k = run(of: .other, t, from: j + 1, end)
            while k < end && (t.scalars[k] == cr || t.scalars[k] == lf) { k += 1 }
            return k
        }
        // `\s*[\r\n]+`: up to and including the last CR/LF of the whitespace run.
        let k = run(of: .space, t, from: i, end)
        var last = k - 1
        while last >= i && t.scalars[last] != cr && t.scalars[last] != lf { last -= 1 }
        if last >= i { return last + 1 }
        return whitespace(t, i, end)
    }
}

extension PreTokenizer {
    /// The pre-tokens of `text`, in order (for inspection and tests; encoders use the scanner directly).
    public func preTokenize(_ text: String) -> [String] {
        let scalars = ScalarText(text)
        var pieces: [String] = []
        split(scalars, 0..<scalars.count) { range in
            let bytes = scalars.bytes[scalars.byteOffsets[range.lowerBound]..<scalars.byteOffsets[range.upperBound]]
            pieces.append(String(decoding: bytes, as: UTF8.self))
        }
        return pieces
    }
}
