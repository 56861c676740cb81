import Foundation
import Training

/// Any job, as one value: what the experiment runner schedules and what `dlp job FILE` runs in a
/// child process. On disk: `{"kind": "prune" | "convert" | "perplexity" | "zeroshot" | "finetune", "job": {...}}`.
public enum Job: Sendable, Equatable {
    case prune(PruneJob)
    case convert(ConvertJob)
    case perplexity(PerplexityJob)
    case zeroshot(ZeroShotJob)
    case finetune(FinetuneJob)

    public var kind: String {
        switch self {
        case .prune: return "prune"
        case .convert: return "convert"
        case .perplexity: return "perplexity"
        case .zeroshot: return "zeroshot"
        case .finetune: return "finetune"
        }
    }

    /// The model the job reads.
    public var model: String {
        switch self {
        case .prune(let j): return j.model
        case .convert(let j): return j.directory
        case .perplexity(let j): return j.model
        case .zeroshot(let j): return j.model
        case .finetune(let j): return j.model
        }
    }

    public func validate() throws {
        switch self {
        case .prune(let j): try j.validate()
        case .convert(let j): try j.validate()
        case .perplexity(let j): try j.validate()
        case .zeroshot(let j): try j.validate()
        case .finetune(let j): try j.validate()
        }
    }

    /// Validates and runs the job; returns its result as JSON (indented, sorted keys): the
    /// manifest of a prune or a convert (``ConvertJob/Written`` for a model that is no prune output),
    /// the `PerplexityResult`, the `ZeroShotReport` or the ``FinetuneManifest``.
    public func run(observer: JobObserver = .silent) throws -> Data {
        try validate()
        switch self {
        case .prune(let j): return try Job.encoder.encode(try j.run(observer: observer))
        case .convert(let j):
            if let manifest = try j.run(observer: observer) { return try Job.encoder.encode(manifest) }
            return try Job.encoder.encode(ConvertJob.Written(outputs: PruneJob.outputs(in: j.destinationURL)))
        case .perplexity(let j): return try Job.encoder.encode(try j.run(observer: observer))
        case .zeroshot(let j): return try Job.encoder.encode(try j.run(observer: observer))
        case .finetune(let j): return try Job.encoder.encode(try j.run(observer: observer))
        }
    }

    /// Indented JSON with sorted keys and plain slashes: job files, manifests, results and every
    /// verb's `--json` output.
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// Reads a job file.
    public static func load(from url: URL) throws -> Job {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw JobError.unreadableJob(path: url.path, reason: "no such file or not readable")
        }
        do { return try JSONDecoder().decode(Job.self, from: data) } catch {
            throw JobError.unreadableJob(path: url.path, reason: "not a job (\(error))")
        }
    }

    /// Writes a job file (atomically).
    public func write(to url: URL) throws {
        try Job.encoder.encode(self).write(to: url, options: .atomic)
    }
}

extension Job: Codable {
    enum CodingKeys: String, CodingKey { case kind, job }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try c.decode(String.self, forKey: .kind)
        switch kind {
        case "prune": self = .prune(try c.decode(PruneJob.self, forKey: .job))
        case "convert": self = .convert(try c.decode(ConvertJob.self, forKey: .job))
        case "perplexity": self = .perplexity(try c.decode(PerplexityJob.self, forKey: .job))
        case "zeroshot": self = .zeroshot(try c.decode(ZeroShotJob.self, forKey: .job))
        case "finetune": self = .finetune(try c.decode(FinetuneJob.self, forKey: .job))
        default:
            throw DecodingError.dataCorruptedError(forKey: .kind, in: c,
                                                   debugDescription: "unknown kind '\(kind)'; valid: prune, convert, perplexity, zeroshot, finetune")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        switch self {
        case .prune(let j): try c.encode(j, forKey: .job)
        case .convert(let j): try c.encode(j, forKey: .job)
        case .perplexity(let j): try c.encode(j, forKey: .job)
        case .zeroshot(let j): try c.encode(j, forKey: .job)
        case .finetune(let j): try c.encode(j, forKey: .job)
        }
    }
}

extension Job: CustomStringConvertible {
    /// One line: what the job does, for progress lines and `--dry-run`.
    public var description: String {
        switch self {
        case .prune(let j):
            let c = j.calibration
            return "prune \(j.model): \(j.method.rawValue) + \(j.allocation), target \(j.target), \(j.pattern)\(j.quantization.map { ", joint \($0.rawValue)" } ?? ""); calibration \(c.source.name) \(c.sampling.rawValue) \(c.samples)×\(c.sequenceLength) seed \(c.seed); exports \(j.exports.formats.map(\.rawValue).joined(separator: ",")) → \(j.output)"
        case .convert(let j):
            return "convert \(j.directory): \(j.formats.map(\.rawValue).joined(separator: ","))"
                + (j.formats.contains(.gguf) ? " (linears \(j.ggufType.rawValue.lowercased()))" : "") + " → \(j.destinationURL.path)"
        case .perplexity(let j):
            return "perplexity \(j.model): \(j.dataset.name) (\(j.dataset.url.path)), windows of \(j.sequenceLength)" + (j.maxWindows.map { ", first \($0)" } ?? "")
        case .zeroshot(let j):
            return "zero-shot \(j.model): \(j.tasks.map(\.rawValue).joined(separator: ","))" + (j.limit.map { ", first \($0) per task" } ?? "")
        case .finetune(let j):
            return "finetune \(j.model): LoRA r \(j.lora.rank) α \(j.lora.alpha) on \(LoRAConfiguration.targetsTag(j.lora.targets)) "
                + "\(j.lora.masked ? "masked" : "unmasked"), dropout \(j.lora.dropout), \(j.tokens) tokens of \(j.data.name) in \(j.sequencesPerStep)×\(j.sequenceLength)-token steps, lr \(j.learningRate) → \(j.output)"
        }
    }
}
