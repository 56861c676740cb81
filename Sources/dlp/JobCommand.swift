import Foundation
import Jobs

/// `dlp job FILE [--result PATH]`: runs a job written as JSON (what `dlp experiment` hands each
/// step to a child process).
struct JobCommand: Command {
    static let name = "job"
    static let summary = "run a job file (a prune, perplexity or zero-shot job as JSON; what `dlp experiment` runs)"
    static let synopsis = "usage: dlp job FILE.json [--result PATH]"
    static let file = Option("FILE.json", nil, "{\"kind\": \"prune\" | \"perplexity\" | \"zeroshot\", \"job\": {...}}, as `dlp experiment`\nwrites it (every field of the job present)")
    static let result = Option("--result", "PATH", "write the result JSON (manifest, PerplexityResult or ZeroShotReport) to PATH\n(default: stdout; a prune, a conversion or a fine-tuning prints its summary instead:\nits manifest is in its output)")
    static let options = [file, result]
    static let interruptedMessage = "the job was stopped and its unfinished output removed; run it again"
    let job: Job
    let result: URL?

    init(arguments: inout Arguments) throws {
        result = try arguments.value(Self.result).map { URL(fileURLWithPath: $0) }
        let path = try arguments.positional(Self.file)
        do { job = try Job.load(from: URL(fileURLWithPath: path)) } catch let error as JobError {
            throw UsageError(error.description)
        }
        try asUsageError { try job.validate() }
    }

    func run() throws {
        if result == nil {
            // Jobs that write their own output (a manifest in it) say what they did in a few
            // lines: an experiment's log is not the place for a whole manifest.
            switch job {
            case .prune(let prune):
                let manifest = try asUsageError { try prune.run(observer: .terminal()) }
                print(PruneCommand.summary(manifest, directory: prune.outputURL))
                return
            case .convert(let convert):
                _ = try asUsageError { try convert.run(observer: .terminal()) }
                print(ConvertCommand.summary(convert))
                return
            case .finetune(let finetune):
                let manifest = try asUsageError { try finetune.run(observer: .terminal()) }
                print(FinetuneCommand.summary(manifest, directory: finetune.outputURL))
                return
            case .perplexity, .zeroshot: break
            }
        }
        let data = try asUsageError { try job.run(observer: .terminal()) }
        if let result {
            try data.write(to: result, options: .atomic)
        } else {
            print(String(decoding: data, as: UTF8.self))
        }
    }
}
