import Foundation
import Pruning
import Transformer

/// The calibration flags shared by `prune`, `allocate` and `calibration`.
struct CalibrationOptions {
    static let usage = """
          --calibration c4|PATH   documents to calibrate on: the fetched C4 excerpt (default) or a file
                                  (.jsonl with a "text" field per line, else one document per line)
          --sampling documents|stream
                                  documents: random window of a random document longer than T (reference);
                                  stream: random non-overlapping windows of all documents joined (default)
          --samples N             calibration windows (default 128)
          --seqlen T              tokens per window (default 2048)
          --seed S                sampling seed (default 0)
        """
    let settings: CalibrationSettings

    init(arguments: inout Arguments, defaultSamples: Int = 128, defaultSequenceLength: Int = 2048) throws {
        let spec = try arguments.option("--calibration") ?? "c4"
        let source: CalibrationSource
        if spec == "c4" {
            source = CalibrationSource(name: "c4", path: ModelReference.home().appendingPathComponent("data/c4.utf8").path)
        } else {
            source = CalibrationSource(name: URL(fileURLWithPath: spec).lastPathComponent, path: spec)
        }
        guard FileManager.default.isReadableFile(atPath: source.path) else {
            throw UsageError("--calibration \(spec): cannot read \(source.path)" + (spec == "c4" ? "; fetch it with `make assets`" : ""))
        }
        let sampling = try arguments.option("--sampling") { text in
            do { return try CalibrationSampling.parse(text) } catch { throw UsageError("\(error)") }
        } ?? .stream
        let samples = try arguments.option("--samples", positiveInt) ?? defaultSamples
        let sequenceLength = try arguments.option("--seqlen", positiveInt) ?? defaultSequenceLength
        guard sequenceLength >= 2 else { throw UsageError("--seqlen must be at least 2") }
        let seed: UInt64 = try arguments.option("--seed") { (text: String) throws -> UInt64 in
            guard let value = UInt64(text) else { throw UsageError("expected a non-negative integer") }
            return value
        } ?? 0
        settings = CalibrationSettings(source: source, sampling: sampling, samples: samples, sequenceLength: sequenceLength, seed: seed)
    }
}

/// `dlp calibration MODEL --output FILE`: the calibration windows a pruning run would use, as
/// JSON, so reference implementations can calibrate on exactly the same tokens.
struct CalibrationCommand: Command {
    static let name = "calibration"
    static let summary = "export the calibration windows (token ids) a pruning run would use"
    static let usage = """
        usage: dlp calibration MODEL --output FILE [calibration options]
          writes {"settings", "source_sha256", "windows_sha256", "windows": [[ids]]} to FILE
        """ + "\n" + CalibrationOptions.usage
    let model: String
    let calibration: CalibrationOptions
    let output: URL

    init(arguments: inout Arguments) throws {
        calibration = try CalibrationOptions(arguments: &arguments)
        guard let path = try arguments.option("--output") else { throw UsageError("--output FILE is required") }
        output = URL(fileURLWithPath: path)
        guard FileManager.default.isWritableFile(atPath: output.deletingLastPathComponent().path) else {
            throw UsageError("--output \(path): directory is not writable")
        }
        model = try arguments.positional("MODEL")
    }

    func run() throws {
        let tokenizer = try Checkpoint.open(model).tokenizer()
        let set = try CalibrationSet(settings: calibration.settings, tokenizer: tokenizer)
        try set.writeJSON(to: output)
        print("\(set.windows.count) windows × \(calibration.settings.sequenceLength) tokens → \(output.path) (windows sha256 \(set.windowsDigest))")
    }
}
