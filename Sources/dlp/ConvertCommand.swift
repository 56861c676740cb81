import Foundation
import Jobs
import TensorCore

/// `dlp convert OUTPUT_DIR --formats sparse`: adds export formats to a `dlp prune` output from the
/// weights already exported there. Parses its options into a ``ConvertJob`` and runs it.
struct ConvertCommand: Command {
    static let name = "convert"
    static let summary = "re-export a dlp prune output (sparse/, hf/, model.gguf in another type) or a model, without pruning again"
    static let synopsis = "usage: dlp convert OUTPUT_DIR|MODEL [--formats gguf,sparse,safetensors] [--gguf-dtype T] [--sparse-dtype T] [--output DIR] [--force]"
    static let directory = Option("OUTPUT_DIR|MODEL", nil, "a directory written by dlp prune (manifest.json with hf/ or model.gguf); with --output\nalso any model (a GGUF file, a short name such as smollm2-135m)")
    static let formats = Option("--formats", "gguf,sparse,safetensors", "what to write (default sparse): model.gguf (block linears in --gguf-dtype), sparse/\n(block linears in the compressed-tensors sparse-bitmask layout) and/or hf/ (dense safetensors)")
    static let ggufType = Option("--gguf-dtype", PruneJob.ggufTypes.map { $0.rawValue.lowercased() }.joined(separator: "|"),
                                 "element type of the block linears in model.gguf (default f32); only types that keep zeros")
    static let output = Option("--output", "DIR", "write into a new directory (with the prune output's manifest, report and chart)\ninstead of adding to OUTPUT_DIR; needed for a model that is no prune output")
    static let force = Option("--force", nil, "replace a format's folder, model.gguf or the --output directory if it exists")
    static let json = Option("--json", nil, "print the updated manifest as JSON on stdout")
    static let options = [directory, formats, ggufType, ExportOptions.sparseType, output, force, json]
    static let interruptedMessage = "the unfinished folder was removed; OUTPUT_DIR is as it was (formats already finished are kept); run the command again"
    static let footer = """
        Reads OUTPUT_DIR/hf/ (F32, exact) or else OUTPUT_DIR/model.gguf for sparse/ and hf/; model.gguf is written
        from OUTPUT_DIR/model.gguf (a quantized one is quantized again). Each folder or file is written to a
        temporary name beside it, then renamed; manifest.json's outputs and types are updated.
        Example: dlp prune smollm2-135m --output out/p70 && dlp convert out/p70 --formats gguf --gguf-dtype q4_0 --output out/p70-q4_0
        """
    let job: ConvertJob
    let json: Bool

    init(arguments: inout Arguments) throws {
        json = arguments.flag(Self.json)
        let force = arguments.flag(Self.force)
        let formats = try ExportOptions.formats(Self.formats, &arguments, defaults: [.sparse])
        let sparseType = try ExportOptions.sparseType(&arguments)
        let ggufType = try arguments.value(Self.ggufType) { (text: String) throws -> DType in
            do { return try PruneJob.parseGGUFType(text) } catch let error as JobError {
                guard case let .invalidSetting(_, reason) = error else { throw error }
                throw UsageError(reason)
            }
        }
        if ggufType != nil, !formats.contains(.gguf) {
            throw UsageError("--gguf-dtype sets the type of model.gguf's block linears; add gguf to --formats (e.g. --formats gguf)")
        }
        let output = try arguments.value(Self.output) { $0 }
        job = ConvertJob(directory: try arguments.positional(Self.directory), formats: formats, sparseType: sparseType,
                         ggufType: ggufType ?? .f32, output: output, replaceExisting: force)
        try asUsageError { try job.validate() }
    }

    func run() throws {
        let manifest = try asUsageError { try job.run(observer: .terminal()) }
        if json {
            if let manifest { try printJSON(manifest) } else { print("{}") }
        } else {
            print(Self.summary(job))
        }
    }

    /// One line: what was converted into which files, with their sizes.
    static func summary(_ job: ConvertJob) -> String {
        let destination = job.destinationURL
        let files = job.formats.map(\.outputName).flatMap { name -> [String] in
            let url = destination.appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return [] }
            if !isDirectory.boolValue { return [name + " (\(formatBytes(Self.size(url))))"] }
            let total = ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? [])
                .reduce(0) { $0 + Self.size(url.appendingPathComponent($1)) }
            return [name + "/ (\(formatBytes(total)))"]
        }
        return "converted \(job.directory) → \(destination.path): " + files.joined(separator: ", ")
    }

    private static func size(_ url: URL) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.intValue ?? 0
    }
}
