import Foundation
import Tokenization

/// Why generation could not start.
public enum GenerationError: Error, Equatable, CustomStringConvertible {
    case noChatTemplate(detail: String)
    case emptyPrompt
    case promptTooLong(tokens: Int, context: Int)

    public var description: String {
        switch self {
        case .noChatTemplate(let detail):
            return "--chat: \(detail), and its vocabulary has no <|im_start|>/<|im_end|> tokens; run without --chat and write the prompt in the model's own format"
        case .emptyPrompt:
            return "the prompt is empty (give --prompt TEXT or --file PATH with some text)"
        case let .promptTooLong(tokens, context):
            return "the prompt has \(tokens) tokens, the model's context holds \(context); shorten it"
        }
    }
}

/// What one generation did.
public struct GenerationResult: Sendable, Codable, Equatable {
    /// Why it stopped.
    public enum Stop: String, Sendable, Codable {
        case endOfText = "end of text", maxTokens = "max tokens", context = "context full"
    }

    public var promptTokens: Int
    public var tokens: [Int32]
    public var text: String
    public var stop: Stop
    public var prefillSeconds: Double
    public var decodeSeconds: Double

    public init(promptTokens: Int, tokens: [Int32], text: String, stop: Stop, prefillSeconds: Double, decodeSeconds: Double) {
        self.promptTokens = promptTokens
        self.tokens = tokens
        self.text = text
        self.stop = stop
        self.prefillSeconds = prefillSeconds
        self.decodeSeconds = decodeSeconds
    }

    /// Prompt tokens per second of the prefill.
    public var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(promptTokens) / prefillSeconds : 0 }
    /// Generated tokens per second after the first (each one matrix–vector pass).
    public var decodeTokensPerSecond: Double {
        decodeSeconds > 0 && tokens.count > 1 ? Double(tokens.count - 1) / decodeSeconds : 0
    }
}

/// Text generation with a decoder and its tokenizer: prefill the prompt, then one token at a
/// time, handing text to `onText` as soon as it is complete (a multi-byte character split over
/// tokens is held back until its last byte arrives).
public struct TextGenerator {
    public let decoder: IncrementalDecoder
    public let tokenizer: any Tokenizer
    /// Tokens that end the text (not printed): the model's end-of-sequence and, for chat, `<|im_end|>`.
    public var stopTokens: Set<Int32>

    public init(decoder: IncrementalDecoder, tokenizer: any Tokenizer, stopTokens: Set<Int32>) {
        self.decoder = decoder
        self.tokenizer = tokenizer
        self.stopTokens = stopTokens
    }

    /// The stop tokens of `tokenizer`: its EOS, `<|endoftext|>` and `<|im_end|>` where present.
    public static func defaultStopTokens(_ tokenizer: any Tokenizer) -> Set<Int32> {
        var stops = Set<Int32>()
        if let eos = tokenizer.definition.eosID { stops.insert(eos) }
        for (id, text) in tokenizer.definition.tokens.enumerated() where text == "<|im_end|>" || text == "<|endoftext|>" {
            stops.insert(Int32(id))
        }
        return stops
    }

    /// Generates up to `maxTokens` tokens after `prompt` (ids), continuing from an empty cache.
    public func generate(prompt: [Int32], maxTokens: Int, sampler: Sampler,
                         onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        guard !prompt.isEmpty else { throw GenerationError.emptyPrompt }
        guard prompt.count < decoder.capacity else {
            throw GenerationError.promptTooLong(tokens: prompt.count, context: decoder.capacity)
        }
        var sampler = sampler
        decoder.reset()
        let t0 = DispatchTime.now().uptimeNanoseconds
        var logits = try decoder.feed(prompt)
        let t1 = DispatchTime.now().uptimeNanoseconds
        var tokens = [Int32](), printed = "", stop = GenerationResult.Stop.maxTokens
        while tokens.count < maxTokens {
            let next = sampler.next(logits)
            if stopTokens.contains(next) {
                stop = .endOfText
                break
            }
            tokens.append(next)
            let text = tokenizer.decode(tokens)
            if !text.hasSuffix("\u{FFFD}"), text.hasPrefix(printed) {
                onText(String(text.dropFirst(printed.count)))
                printed = text
            }
            guard tokens.count < maxTokens else { break }
            guard decoder.position < decoder.capacity else {
                stop = .context
                break
            }
            logits = try decoder.feed([next])
        }
        let t2 = DispatchTime.now().uptimeNanoseconds
        let text = tokenizer.decode(tokens)
        if text.count > printed.count, text.hasPrefix(printed) { onText(String(text.dropFirst(printed.count))) }
        return GenerationResult(promptTokens: prompt.count, tokens: tokens, text: text, stop: stop,
                                prefillSeconds: Double(t1 - t0) * 1e-9, decodeSeconds: Double(t2 - t1) * 1e-9)
    }
}
