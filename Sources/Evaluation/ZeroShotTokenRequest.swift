import Tokenization

/// A request as token ids, split as lm-evaluation-harness's `_encode_pair` splits it: trailing
/// whitespace of the context moves to the front of the continuation, then
/// `whole = encode(context + continuation)`, `context = encode(context)` and the continuation is
/// `whole` after the first `context.count` tokens (so a merge across the boundary stays in the
/// continuation's favour, as in the harness).
public struct ZeroShotTokenRequest: Sendable, Equatable {
    /// Conditioning tokens (BOS first when the tokenizer adds one).
    public var context: [Int32]
    /// Scored tokens.
    public var continuation: [Int32]

    public init(context: [Int32], continuation: [Int32]) {
        self.context = context
        self.continuation = continuation
    }

    /// Encodes `request` with `tokenizer`. Texts are encoded without special tokens and BOS is
    /// prepended when the tokenizer's definition adds one (the harness's `add_bos_token`); an
    /// empty context becomes the single prefix token (BOS, else EOS) as in the harness.
    public init(_ request: ZeroShotItem.Request, tokenizer: any Tokenizer) {
        var context = request.context, continuation = request.continuation
        let kept = context.unicodeScalars.reversed().drop(while: { $0.properties.isWhitespace }).count
        let trailing = context.unicodeScalars.count - kept
        if trailing > 0 {
            let cut = context.unicodeScalars.index(context.unicodeScalars.startIndex, offsetBy: kept)
            continuation = String(context.unicodeScalars[cut...]) + continuation
            context = String(context.unicodeScalars[..<cut])
        }
        let definition = tokenizer.definition
        let prefix: [Int32] = definition.addBOS ? definition.bosID.map { [$0] } ?? [] : []
        if context.isEmpty {
            let start = definition.bosID ?? definition.eosID
            self.context = start.map { [$0] } ?? prefix
            self.continuation = tokenizer.encode(continuation, addSpecial: false)
            return
        }
        let whole = prefix + tokenizer.encode(context + continuation, addSpecial: false)
        let contextTokens = prefix + tokenizer.encode(context, addSpecial: false)
        self.context = contextTokens
        self.continuation = Array(whole.dropFirst(min(contextTokens.count, whole.count)))
    }

    /// The model input under a window of `maxLength` tokens, as the harness builds it:
    /// `(context + continuation)[-(maxLength + 1):][:-1]`; the continuation's tokens are predicted by
    /// its last `scoredCount` positions (fewer than the continuation only if it alone overflows the window).
    public func input(maxLength: Int) -> (tokens: [Int32], scoredCount: Int) {
        let whole = context + continuation
        let window = whole.suffix(maxLength + 1)
        let tokens = Array(window.dropLast())
        return (tokens, min(continuation.count, tokens.count))
    }
}
