import Foundation
import TensorIO
import Tokenization
import Transformer

/// How `dlp generate --chat` wraps a prompt: the ChatML layout that SmolLM2, Qwen2 and many other
/// instruct models use,
///
///     <|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n
///
/// The templates models carry are Jinja programs (Qwen's handles tools); `dlp` does not interpret
/// Jinja. It recognises a ChatML template by its markers, takes the default system prompt the
/// template writes when the conversation has none, and renders the layout above, which is what
/// those templates produce for one user message with `add_generation_prompt`.
public struct ChatTemplate: Sendable, Equatable {
    /// The system message written when the user gives none (from the model's template).
    public var defaultSystem: String?
    /// Where the layout came from, for the user: `ChatML, from the model's chat template`.
    public var origin: String

    public static let start = "<|im_start|>", end = "<|im_end|>"

    /// The prompt as the model expects a chat turn, ending where the assistant's answer begins.
    public func render(user: String, system: String? = nil) -> String {
        var text = ""
        if let system = system ?? defaultSystem { text += "\(Self.start)system\n\(system)\(Self.end)\n" }
        return text + "\(Self.start)user\n\(user)\(Self.end)\n\(Self.start)assistant\n"
    }

    /// The layout for a model with chat template `template` (nil when it carries none) and
    /// `tokenizer`. Throws when the template is not ChatML and the vocabulary has no ChatML
    /// markers, since any other layout would be a guess.
    public static func detect(template: String?, tokenizer: any Tokenizer) throws -> ChatTemplate {
        if let template, template.contains(start), template.contains(end) {
            return ChatTemplate(defaultSystem: defaultSystemPrompt(in: template),
                                origin: "ChatML, recognised in the model's chat template")
        }
        let tokens = Set(tokenizer.definition.tokens)
        guard tokens.contains(start), tokens.contains(end) else {
            throw GenerationError.noChatTemplate(
                detail: template == nil ? "the model carries no chat template" : "its chat template is not ChatML")
        }
        return ChatTemplate(defaultSystem: nil,
                            origin: "ChatML, from the vocabulary's <|im_start|>/<|im_end|> tokens (\(template == nil ? "no template in the model" : "the model's template is not ChatML"))")
    }

    /// The text between `<|im_start|>system` + newline and `<|im_end|>` inside one string literal
    /// of the template (a newline written as `\n` in the literal is unescaped).
    static func defaultSystemPrompt(in template: String) -> String? {
        for opener in ["\(start)system\n", "\(start)system\\n"] {
            var search = template.startIndex..<template.endIndex
            while let open = template.range(of: opener, range: search) {
                search = open.upperBound..<template.endIndex
                guard let close = template.range(of: end, range: search) else { break }
                let body = template[open.upperBound..<close.lowerBound]
                if !body.isEmpty, !body.contains(where: { "'\"{}".contains($0) }) {
                    return body.replacingOccurrences(of: "\\n", with: "\n")
                }
            }
        }
        return nil
    }
}
