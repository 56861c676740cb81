import Foundation
import Jobs
import Pruning
import Transformer

/// The calibration options shared by `prune`, `allocate` and `calibration`.
enum CalibrationOptions {
    static let source = Option("--calibration", "c4|PATH", "documents to calibrate on: the fetched C4 excerpt (default) or a file\n(.jsonl with a \"text\" field per line, else one document per line)")
    static let sampling = Option("--sampling", "documents|stream", "documents: random window of a random document longer than T (reference);\nstream: random non-overlapping windows of all documents joined (default)")
    static let samples = Option("--samples", "N", "calibration windows (default 128)")
    static let seqlen = Option("--seqlen", "T", "tokens per window (default 2048)")
    static let seed = Option("--seed", "S", "sampling seed (default 0)")
    static let options = [source, sampling, samples, seqlen, seed]

    /// The settings the options give, with a readable source.
    static func settings(_ arguments: inout Arguments) throws -> CalibrationSettings {
        let spec = try arguments.value(source) ?? "c4"
        let calibrationSource = spec == "c4"
            ? CalibrationSource.fetchedC4()
            : CalibrationSource(name: URL(fileURLWithPath: spec).lastPathComponent, path: URL(fileURLWithPath: spec).path)
        let settings = CalibrationSettings(
            source: calibrationSource,
            sampling: try arguments.value(sampling) { try CalibrationSampling.parse($0) } ?? .stream,
            samples: try arguments.value(samples, positiveInt) ?? 128,
            sequenceLength: try arguments.value(seqlen, positiveInt) ?? 2048,
            seed: try arguments.value(seed) { (text: String) throws -> UInt64 in
                guard let value = UInt64(text) else { throw UsageError("expected a non-negative integer") }
                return value
            } ?? 0)
        try asUsageError { try PruneJob.validate(settings) }
        return settings
    }
}

/// `dlp calibration MODEL --output FILE`: the calibration windows a pruning run would use, as
/// JSON, so reference implementations can calibrate on exactly the same tokens.
struct CalibrationCommand: Command {
    static let name = "calibration"
    static let summary = "export the calibration windows (token ids) a pruning run would use"
    static let synopsis = "usage: dlp calibration MODEL --output FILE [calibration options]"
    static let output = Option("--output", "FILE", "writes {\"settings\", \"source_sha256\", \"windows_sha256\", \"windows\": [[ids]]}")
    static let options = [modelArgument, output] + CalibrationOptions.options
    let model: String
    let settings: CalibrationSettings
    let output: URL

    init(arguments: inout Arguments) throws {
        settings = try CalibrationOptions.settings(&arguments)
        guard let path = try arguments.value(Self.output) else { throw UsageError("--output FILE is required") }
        output = URL(fileURLWithPath: path)
        guard FileManager.default.isWritableFile(atPath: output.deletingLastPathComponent().path) else {
            throw UsageError("--output \(path): directory is not writable")
        }
        model = try arguments.positional(modelArgument)
    }

    func run() throws {
        let tokenizer = try Checkpoint.open(model).tokenizer()
        let set = try CalibrationSet(settings: settings, tokenizer: tokenizer)
        try set.writeJSON(to: output)
        print("\(set.windows.count) windows × \(settings.sequenceLength) tokens → \(output.path) (windows sha256 \(set.windowsDigest))")
    }
}
