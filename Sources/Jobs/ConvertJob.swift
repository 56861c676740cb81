import Foundation
import Pruning
import Sparse
import TensorIO
import Tokenization
import Transformer

/// Writes further export formats into an existing `dlp prune` output directory, from the weights
/// already exported there (no pruning again): `sparse/` or `hf/`, read from the output's `hf/`
/// (F32, exact) or else its `model.gguf`. Each format is written into a staging directory renamed
/// into place (``StagedDirectory``), then `manifest.json` is rewritten with the new outputs (and
/// the sparse value type). `dlp convert` parses its options into one.
public struct ConvertJob: Sendable, Codable, Equatable {
    /// The prune output directory.
    public var directory: String
    /// What to write: `sparse` and/or `safetensors` (a GGUF is written only by `dlp prune`).
    public var formats: [PruneJob.ExportFormat]
    /// The value type of the non-zeros in `sparse/`.
    public var sparseType: SparseValueType
    /// Replace a format's folder if it exists.
    public var replaceExisting: Bool

    public init(directory: String, formats: [PruneJob.ExportFormat] = [.sparse], sparseType: SparseValueType = .bf16,
                replaceExisting: Bool = false) {
        self.directory = directory
        self.formats = formats
        self.sparseType = sparseType
        self.replaceExisting = replaceExisting
    }

    public var directoryURL: URL { URL(fileURLWithPath: directory).standardizedFileURL }

    var manifestURL: URL { directoryURL.appendingPathComponent("manifest.json") }

    /// Checks the directory is a prune output with exported weights, and the formats. Throws
    /// ``JobError/invalidSetting(setting:reason:)``.
    public func validate() throws {
        func fail(_ setting: String, _ reason: String) -> JobError { .invalidSetting(setting: setting, reason: reason) }
        _ = try manifest()
        guard try source() != nil else {
            throw fail("OUTPUT_DIR", "\(directory) has neither hf/ nor model.gguf to convert from; run dlp prune again with --formats safetensors")
        }
        guard !formats.isEmpty else { throw fail("formats", "name at least one of sparse, safetensors") }
        let fm = FileManager.default
        for format in formats {
            guard format != .gguf else {
                throw fail("formats", "gguf is written only by dlp prune (from a GGUF input); convert writes sparse, safetensors")
            }
            let target = directoryURL.appendingPathComponent(format.outputName)
            if fm.fileExists(atPath: target.path), !replaceExisting {
                throw fail("formats", "\(target.path) exists; pass --force to replace it")
            }
        }
        guard fm.isWritableFile(atPath: directoryURL.path) else { throw fail("OUTPUT_DIR", "\(directory) is not writable") }
    }

    /// The output's manifest; a directory without one (or with something else) is not a prune output.
    func manifest() throws -> PruningManifest {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directoryURL.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw JobError.invalidSetting(setting: "OUTPUT_DIR", reason: "\(directory) is not a directory; give a dlp prune output directory")
        }
        guard let data = fm.contents(atPath: manifestURL.path) else {
            throw JobError.invalidSetting(setting: "OUTPUT_DIR", reason: "\(directory) is not a dlp prune output: it has no manifest.json")
        }
        do { return try JSONDecoder().decode(PruningManifest.self, from: data) } catch {
            throw JobError.invalidSetting(setting: "OUTPUT_DIR", reason: "\(manifestURL.path) is not a dlp prune manifest (\(error))")
        }
    }

    /// The exported weights to convert from: `hf/` (F32, exact), else `model.gguf`.
    func source() throws -> URL? {
        let fm = FileManager.default
        let hf = directoryURL.appendingPathComponent(PruneJob.ExportFormat.safetensors.outputName)
        if fm.fileExists(atPath: hf.appendingPathComponent(SafetensorsCheckpoint.configFileName).path) { return hf }
        let gguf = directoryURL.appendingPathComponent(PruneJob.ExportFormat.gguf.outputName)
        return fm.fileExists(atPath: gguf.path) ? gguf : nil
    }

    /// Writes the formats and updates the manifest; returns the updated manifest. Call
    /// ``validate()`` first.
    @discardableResult
    public func run(observer: JobObserver = .silent) throws -> PruningManifest {
        var manifest = try manifest()
        guard let sourceURL = try source() else { throw JobError.invalidSetting(setting: "OUTPUT_DIR", reason: "nothing to convert from") }
        let checkpoint = sourceURL.pathExtension == "gguf" ? try Checkpoint.openGGUF(sourceURL) : try Checkpoint.openSafetensors(sourceURL)
        observer.note("convert: \(directory) from \(sourceURL.lastPathComponent) → \(formats.map(\.outputName).joined(separator: ", "))")
        let ratios = manifest.blocks.map(\.requestedRatio)
        for format in formats {
            let staged = try StagedDirectory(destination: directoryURL.appendingPathComponent(format.outputName))
            switch format {
            case .sparse:
                try SparseExport.write(checkpoint, to: staged.staging, valueType: sparseType,
                                       structure: PruneJob.sparsityStructure(pattern: manifest.settings.pattern, ratios: ratios))
                manifest.sparseValueType = sparseType
            case .safetensors:
                try HuggingFaceExport.write(checkpoint, to: staged.staging)
            case .gguf:
                throw JobError.invalidSetting(setting: "formats", reason: "gguf is written only by dlp prune")
            }
            try writeTokenizerFiles(of: checkpoint, to: staged.staging)
            try staged.commit()
        }
        manifest.outputs = PruneJob.outputs(in: directoryURL)
        try Job.encoder.encode(manifest).write(to: manifestURL, options: .atomic)
        return manifest
    }

    /// The tokenizer files of the new folder: `hf/`'s own files when converting from `hf/` (what
    /// `dlp prune` wrote there), else written from the GGUF's vocabulary as `dlp prune` does.
    private func writeTokenizerFiles(of checkpoint: Checkpoint, to folder: URL) throws {
        guard checkpoint.format == .safetensors else {
            try checkpoint.tokenizer().definition.writeHuggingFaceFiles(to: folder, chatTemplate: checkpoint.chatTemplate())
            return
        }
        let fm = FileManager.default
        for name in TokenizerDefinition.huggingFaceFileNames {
            let file = checkpoint.url.appendingPathComponent(name)
            if fm.fileExists(atPath: file.path) { try fm.copyItem(at: file, to: folder.appendingPathComponent(name)) }
        }
    }
}
