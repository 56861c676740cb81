import Foundation
import Jobs

/// `dlp convert OUTPUT_DIR --formats sparse`: adds export formats to a `dlp prune` output from the
/// weights already exported there. Parses its options into a ``ConvertJob`` and runs it.
struct ConvertCommand: Command {
    static let name = "convert"
    static let summary = "add export formats (sparse/, hf/) to a dlp prune output directory, without pruning again"
    static let synopsis = "usage: dlp convert OUTPUT_DIR [--formats sparse,safetensors] [--sparse-dtype f32|f16|bf16] [--force]"
    static let directory = Option("OUTPUT_DIR", nil, "a directory written by dlp prune (manifest.json with hf/ or model.gguf)")
    static let formats = Option("--formats", "sparse,safetensors", "what to write (default sparse): sparse/ (block linears in the\ncompressed-tensors sparse-bitmask layout) and/or hf/ (dense safetensors)")
    static let force = Option("--force", nil, "replace a format's folder if it exists")
    static let json = Option("--json", nil, "print the updated manifest as JSON on stdout")
    static let options = [directory, formats, ExportOptions.sparseType, force, json]
    static let interruptedMessage = "the unfinished folder was removed; OUTPUT_DIR is as it was (formats already finished are kept); run the command again"
    static let footer = """
        Reads OUTPUT_DIR/hf/ (F32, exact) or else OUTPUT_DIR/model.gguf; writes each folder into a temporary
        directory beside it, then renames it; updates manifest.json's outputs and sparse value type.
        """
    let job: ConvertJob
    let json: Bool

    init(arguments: inout Arguments) throws {
        json = arguments.flag(Self.json)
        let force = arguments.flag(Self.force)
        let formats = try ExportOptions.formats(Self.formats, &arguments, defaults: [.sparse])
        let sparseType = try ExportOptions.sparseType(&arguments)
        job = ConvertJob(directory: try arguments.positional(Self.directory), formats: formats, sparseType: sparseType,
                         replaceExisting: force)
        try asUsageError { try job.validate() }
    }

    func run() throws {
        let manifest = try asUsageError { try job.run(observer: .terminal()) }
        if json {
            try printJSON(manifest)
        } else {
            let written = Set(job.formats.map(\.outputName))
            let files = manifest.outputs.filter { written.contains(String($0.file.split(separator: "/").first ?? "")) }
            print("converted \(job.directoryURL.path): " + files.map { "\($0.file) (\(formatBytes($0.bytes)))" }.joined(separator: ", "))
        }
    }
}
