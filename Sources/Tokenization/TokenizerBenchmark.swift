import Foundation

/// Measures encoding throughput.
public enum TokenizerBenchmark {
    /// One measurement: the best of `repetitions` timed encodes of the same text.
    public struct Result: Sendable, Equatable {
        /// UTF-8 size of the text.
        public var bytes: Int
        /// Tokens produced (without special tokens).
        public var tokens: Int
        /// Fastest encode, in seconds.
        public var seconds: Double
        /// `bytes / seconds / 1e6`.
        public var megabytesPerSecond: Double { Double(bytes) / seconds / 1e6 }
    }

    /// Encodes `text` `repetitions` times (each with a cold pre-token cache) and reports the fastest.
    public static func measure(_ tokenizer: any Tokenizer, text: String, repetitions: Int = 3) -> Result {
        var best = Double.infinity
        var tokens = 0
        for _ in 0..<max(1, repetitions) {
            let start = DispatchTime.now().uptimeNanoseconds
            tokens = tokenizer.encode(text, addSpecial: false).count
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            best = min(best, elapsed)
        }
        return Result(bytes: text.utf8.count, tokens: tokens, seconds: best)
    }
}
