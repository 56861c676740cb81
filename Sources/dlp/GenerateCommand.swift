import Foundation
import Inference
import Jobs
import Sparse

/// `dlp generate MODEL --prompt TEXT`: text from a (pruned) model, streamed as it is produced.
struct GenerateCommand: Command {
    static let name = "generate"
    static let summary = "generate text (sparse kernels for pruned weights, key/value cache), streamed"
    static let synopsis = """
        usage: dlp generate MODEL (--prompt TEXT | --file PATH) [--max-tokens N] [--temperature T] [--top-p P]
                            [--seed S] [--chat [--system TEXT]] [--sparse auto|on|off] [--dtype f32|f16|bf16|q8_0|q4_0]
                            [--context N] [--adapter DIR] [--threads N] [--json]
        """
    static let prompt = Option("--prompt", "TEXT", "the prompt")
    static let file = Option("--file", "PATH", "read the prompt from a UTF-8 file instead")
    static let maxTokens = Option("--max-tokens", "N", "generate at most N tokens (default 128; stops early at end of text)")
    static let temperature = Option("--temperature", "T", "sampling temperature (default 0.8; 0: greedy, always the likeliest token)")
    static let topP = Option("--top-p", "P", "nucleus sampling: draw from the likeliest tokens holding P of the\nprobability (default 0.95; 1: all)")
    static let seed = Option("--seed", "S", "random seed (default 0): the same seed gives the same text")
    static let chat = Option("--chat", nil, "wrap the prompt as a chat turn in the model's ChatML layout (SmolLM2, Qwen)")
    static let system = Option("--system", "TEXT", "with --chat: the system message (default: the template's own)")
    static let sparse = Option("--sparse", "MODE", """
        auto  sparse kernels where they beat dense on this CPU (\(SparseKernel.cpuDescription)): block
              linears at least \(Int(SparseMode.threshold(for: .f32) * 100))% zero in f32, \(Int(SparseMode.threshold(for: .bf16) * 100))% in f16/bf16 (default)
        on    every block linear sparse
        off   every block linear dense
        """)
    static let dtype = Option("--dtype", "TYPE", "value type of the weights as run: f32 (default, exact), f16 or bf16\n(half the bytes; exact for weights stored in that type), q8_0 or q4_0\n(ggml's grids, one scale per 32 weights; exact for a GGUF or a sparse/ export stored\nin that type, else rounded to nearest; the LM head is then q8_0, and the input of each\nproduct is quantized per 32 values as llama.cpp does)")
    static let context = Option("--context", "N", "positions the key/value cache holds (default: prompt + max tokens)")
    static let json = Option("--json", nil, "no streaming: the text, tokens and timings as JSON on stdout")
    static let options = [modelArgument, prompt, file, maxTokens, temperature, topP, seed, chat, system, sparse, dtype,
                          context] + AdapterOptions.options + [threadsOption, json]
    static let footer = "Text goes to stdout as it is produced; the timings and how the weights ran go to stderr."
    let job: GenerateJob
    let json: Bool

    init(arguments: inout Arguments) throws {
        json = arguments.flag(Self.json)
        let text = try arguments.value(Self.prompt)
        let path = try arguments.value(Self.file)
        let prompt: String
        switch (text, path) {
        case let (text?, nil): prompt = text
        case let (nil, path?):
            guard let data = FileManager.default.contents(atPath: path) else { throw UsageError("--file: cannot read \(path)") }
            guard let content = String(data: data, encoding: .utf8) else { throw UsageError("--file: \(path) is not UTF-8 text") }
            prompt = content
        case (nil, nil): throw UsageError("give the prompt: --prompt TEXT or --file PATH")
        case (_?, _?): throw UsageError("give --prompt or --file, not both")
        }
        func number(_ text: String) throws -> Float {
            guard let value = Float(text), value.isFinite else { throw UsageError("expected a number") }
            return value
        }
        job = GenerateJob(
            model: try arguments.positional(modelArgument), prompt: prompt, chat: arguments.flag(Self.chat),
            system: try arguments.value(Self.system), maxTokens: try arguments.value(Self.maxTokens, positiveInt) ?? 128,
            temperature: try arguments.value(Self.temperature, number) ?? 0.8,
            topP: try arguments.value(Self.topP, number) ?? 0.95,
            seed: try arguments.value(Self.seed) { text -> UInt64 in
                guard let seed = UInt64(text) else { throw UsageError("expected a non-negative integer") }
                return seed
            } ?? 0,
            sparse: try arguments.value(Self.sparse, SparseMode.parse) ?? .auto,
            valueType: try arguments.value(Self.dtype, WeightType.parse) ?? .f32,
            context: try arguments.value(Self.context, positiveInt), threads: try arguments.value(threadsOption, positiveInt),
            adapter: try AdapterOptions.settings(&arguments))
        try asUsageError { try job.validate() }
    }

    func run() throws {
        let stderr = FileHandle.standardError
        let report = try job.run(onStart: { report in
            guard !json else { return }
            var line = "[\(report.sparseLinears) of \(report.linears) block linears sparse, \(report.valueType) (\(report.kernel) kernels); "
                + "\(formatBytes(report.blockLinearBytes + report.headBytes)) of weights read per token; \(report.threads) threads"
            if let layout = report.chatLayout { line += "; chat layout: \(layout)" }
            stderr.write(Data((line + "]\n").utf8))
        }, onText: { text in
            guard !json else { return }
            FileHandle.standardOutput.write(Data(text.utf8))
        }, onNote: { stderr.write(Data("[\($0)]\n".utf8)) })
        if json {
            try printJSON(report)
            return
        }
        let r = report.result
        FileHandle.standardOutput.write(Data("\n".utf8))
        stderr.write(Data(String(format: "[prompt %d tokens, prefill %.1f tokens/s; %d tokens generated at %.1f tokens/s; stop: %@]\n",
                                 r.promptTokens, r.prefillTokensPerSecond, r.tokens.count, r.decodeTokensPerSecond,
                                 r.stop.rawValue).utf8))
    }
}
