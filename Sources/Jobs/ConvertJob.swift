import Foundation
import Pruning
import Sparse
import TensorCore
import TensorIO
import Tokenization
import Transformer

/// Writes export formats from weights already exported, without pruning again: `sparse/`, `hf/`
/// or a `model.gguf` with the pruned linears in another type (`--gguf-dtype q4_0` after an F32
/// prune; read from the output's `model.gguf`, so a quantized one is quantized again). The source is a `dlp prune` output directory (read from its `hf/`, F32 and exact, or
/// else its `model.gguf`), or — with `output` — any model (a GGUF file, a short name), which is
/// then re-exported as it is (`dlp convert smollm2-135m --formats gguf --gguf-dtype q8_0 --output
/// DIR` quantizes the dense model's block linears).
///
/// Without `output` the formats go into the source directory; with it, into a new directory that
/// gets the formats, and for a prune output its `manifest.json` (outputs and types updated),
/// `report.md` and `sparsity.svg`. Each folder or file is written into a staging location renamed
/// into place (``StagedDirectory``), so an interrupted convert leaves what was there.
public struct ConvertJob: Sendable, Codable, Equatable {
    /// The prune output directory, or (with `output`) any model reference.
    public var directory: String
    /// What to write.
    public var formats: [PruneJob.ExportFormat]
    /// The value type of the non-zeros in `sparse/`.
    public var sparseType: WeightType
    /// The element type of the block linears in `model.gguf` (``PruneJob/ggufTypes``).
    public var ggufType: DType
    /// Where to write; nil: into `directory`.
    public var output: String?
    /// Replace a format's folder (or the output directory) if it exists.
    public var replaceExisting: Bool

    public init(directory: String, formats: [PruneJob.ExportFormat] = [.sparse], sparseType: WeightType = .bf16,
                ggufType: DType = .f32, output: String? = nil, replaceExisting: Bool = false) {
        self.directory = directory
        self.formats = formats
        self.sparseType = sparseType
        self.ggufType = ggufType
        self.output = output
        self.replaceExisting = replaceExisting
    }

    enum CodingKeys: String, CodingKey { case directory, formats, sparseType, ggufType, output, replaceExisting }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        directory = try c.decode(String.self, forKey: .directory)
        formats = try c.decode([PruneJob.ExportFormat].self, forKey: .formats)
        sparseType = try c.decode(WeightType.self, forKey: .sparseType)
        ggufType = try c.decodeIfPresent(DType.self, forKey: .ggufType) ?? .f32
        output = try c.decodeIfPresent(String.self, forKey: .output)
        replaceExisting = try c.decode(Bool.self, forKey: .replaceExisting)
    }

    /// What a convert of a model that is no prune output wrote (it has no manifest): the files and sizes.
    public struct Written: Sendable, Codable {
        public var outputs: [PruningManifest.Output]
    }

    public var directoryURL: URL { URL(fileURLWithPath: directory).standardizedFileURL }

    /// Where the formats go: `output`, else the source directory.
    public var destinationURL: URL { output.map { URL(fileURLWithPath: $0).standardizedFileURL } ?? directoryURL }

    var manifestURL: URL { directoryURL.appendingPathComponent("manifest.json") }

    /// Whether `directory` is a prune output (a directory with a manifest).
    var isPruneOutput: Bool { FileManager.default.fileExists(atPath: manifestURL.path) }

    /// Checks the source, the formats and the destination. Throws
    /// ``JobError/invalidSetting(setting:reason:)``.
    public func validate() throws {
        func fail(_ setting: String, _ reason: String) -> JobError { .invalidSetting(setting: setting, reason: reason) }
        let fm = FileManager.default
        guard !formats.isEmpty else { throw fail("formats", "name at least one of gguf, sparse, safetensors") }
        guard PruneJob.ggufTypes.contains(ggufType) else {
            _ = try PruneJob.parseGGUFType(ggufType.rawValue)
            throw fail("gguf-dtype", "\(ggufType.rawValue.lowercased()) is not supported for block linears")
        }
        if output == nil || isPruneOutput {
            _ = try manifest()
            guard try source() != nil else {
                throw fail("OUTPUT_DIR", "\(directory) has neither hf/ nor model.gguf to convert from; run dlp prune again with --formats safetensors")
            }
            if formats.contains(.gguf), try ggufSource() == nil {
                throw fail("formats", "gguf needs the output's model.gguf (its metadata and vocabulary are copied); \(directory) has none")
            }
        } else {
            do { _ = try ModelReference.resolve(directory) } catch {
                throw fail("MODEL", "\(error)")
            }
            if formats.contains(.gguf), (try? ModelReference.resolve(directory))?.format != .gguf {
                throw fail("formats", "gguf needs a GGUF input (its metadata and vocabulary are copied); \(directory) is a safetensors directory")
            }
        }
        let destination = destinationURL
        if let output {
            if destination == directoryURL { throw fail("output", "\(output) is the source itself; leave out --output to add formats to it") }
            if fm.fileExists(atPath: destination.path), !replaceExisting {
                throw fail("output", "\(output) exists; pass --force to replace it")
            }
            let parent = destination.deletingLastPathComponent()
            guard fm.isWritableFile(atPath: parent.path) else { throw fail("output", "\(parent.path) is not writable") }
        } else {
            for format in formats {
                let target = destination.appendingPathComponent(format.outputName)
                if fm.fileExists(atPath: target.path), !replaceExisting {
                    throw fail("formats", "\(target.path) exists; pass --force to replace it")
                }
            }
            guard fm.isWritableFile(atPath: destination.path) else { throw fail("OUTPUT_DIR", "\(directory) is not writable") }
        }
    }

    /// The output's manifest; a directory without one (or with something else) is not a prune output.
    func manifest() throws -> PruningManifest {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directoryURL.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw JobError.invalidSetting(setting: "OUTPUT_DIR", reason: "\(directory) is not a directory; give a dlp prune output directory, or a model with --output")
        }
        guard let data = fm.contents(atPath: manifestURL.path) else {
            throw JobError.invalidSetting(setting: "OUTPUT_DIR", reason: "\(directory) is not a dlp prune output: it has no manifest.json (to re-export a model, add --output DIR)")
        }
        do { return try JSONDecoder().decode(PruningManifest.self, from: data) } catch {
            throw JobError.invalidSetting(setting: "OUTPUT_DIR", reason: "\(manifestURL.path) is not a dlp prune manifest (\(error))")
        }
    }

    /// The exported weights to convert from: a prune output's `hf/` (F32, exact), else its
    /// `model.gguf`; any other model as it resolves.
    func source() throws -> URL? {
        guard isPruneOutput else { return try ModelReference.resolve(directory).url }
        let fm = FileManager.default
        let hf = directoryURL.appendingPathComponent(PruneJob.ExportFormat.safetensors.outputName)
        if fm.fileExists(atPath: hf.appendingPathComponent(SafetensorsCheckpoint.configFileName).path) { return hf }
        let gguf = directoryURL.appendingPathComponent(PruneJob.ExportFormat.gguf.outputName)
        return fm.fileExists(atPath: gguf.path) ? gguf : nil
    }

    /// The GGUF whose metadata, vocabulary and other tensors a GGUF export copies.
    func ggufSource() throws -> URL? {
        guard isPruneOutput else {
            let resolved = try ModelReference.resolve(directory)
            return resolved.format == .gguf ? resolved.url : nil
        }
        let gguf = directoryURL.appendingPathComponent(PruneJob.ExportFormat.gguf.outputName)
        return FileManager.default.fileExists(atPath: gguf.path) ? gguf : nil
    }

    private static func open(_ url: URL) throws -> Checkpoint {
        url.pathExtension == "gguf" ? try Checkpoint.openGGUF(url) : try Checkpoint.openSafetensors(url)
    }

    /// Writes the formats (and, for a prune output written elsewhere, its manifest, report and
    /// chart); returns the manifest as it now stands, nil for a model that is no prune output.
    /// Call ``validate()`` first.
    @discardableResult
    public func run(observer: JobObserver = .silent) throws -> PruningManifest? {
        var manifest = isPruneOutput ? try manifest() : nil
        guard let sourceURL = try source() else { throw JobError.invalidSetting(setting: "OUTPUT_DIR", reason: "nothing to convert from") }
        let checkpoint = try Self.open(sourceURL)
        let destination = destinationURL
        observer.note("convert: \(directory) from \(sourceURL.lastPathComponent) → \(formats.map(\.outputName).joined(separator: ", "))"
                      + (output.map { " in \($0)" } ?? "") + (formats.contains(.gguf) ? " (linears \(ggufType.rawValue))" : ""))
        // A new directory is staged whole; formats added to the source are staged one by one.
        let stagedOutput = output == nil ? nil : try StagedDirectory(destination: destination)
        let root = stagedOutput?.staging ?? destination
        let ratios = manifest?.blocks.map(\.requestedRatio)
        for format in formats {
            switch format {
            case .gguf:
                guard let ggufURL = try ggufSource() else { throw JobError.invalidSetting(setting: "formats", reason: "gguf needs a GGUF source") }
                let gguf = ggufURL == sourceURL ? checkpoint : try Checkpoint.openGGUF(ggufURL)
                let target = root.appendingPathComponent(format.outputName)
                let partial = root.appendingPathComponent(".\(format.outputName).partial-\(getpid())")
                let ticket = Interruption.removeOnInterrupt(partial)
                defer { Interruption.forget(ticket); try? FileManager.default.removeItem(at: partial) }
                var provenance = ["converted_from": sourceURL.path]
                if let manifest { provenance["source_sha256"] = manifest.model.sha256 }
                // The GGUF's own linears (its q/k row order; hf/ holds the other one).
                let fallbacks = try GGUFExport.write(gguf, to: partial, dtype: ggufType, provenance: provenance,
                                                     weights: { try gguf.block($0) })
                if FileManager.default.fileExists(atPath: target.path) { try FileManager.default.removeItem(at: target) }
                try FileManager.default.moveItem(at: partial, to: target)
                manifest?.ggufLinears = .init(type: ggufType, fallbacks: fallbacks)
            case .sparse, .safetensors:
                let staged = stagedOutput == nil ? try StagedDirectory(destination: root.appendingPathComponent(format.outputName)) : nil
                let folder = staged?.staging ?? root.appendingPathComponent(format.outputName)
                if format == .sparse {
                    let structure = manifest.map { PruneJob.sparsityStructure(pattern: $0.settings.pattern, ratios: ratios ?? []) } ?? "unstructured"
                    try SparseExport.write(checkpoint, to: folder, valueType: sparseType, structure: structure)
                    manifest?.sparseValueType = sparseType
                } else {
                    try HuggingFaceExport.write(checkpoint, to: folder)
                }
                try writeTokenizerFiles(of: checkpoint, to: folder)
                try staged?.commit()
            }
        }
        if var m = manifest {
            if output != nil {
                // The new directory holds only what was written now.
                if !formats.contains(.sparse) { m.sparseValueType = nil }
                if !formats.contains(.gguf) { m.ggufLinears = nil }
            }
            m.outputs = PruneJob.outputs(in: root)
            try Job.encoder.encode(m).write(to: root.appendingPathComponent("manifest.json"), options: .atomic)
            if output != nil {
                try Data(PruningReport.markdown(m).utf8).write(to: root.appendingPathComponent("report.md"))
                try Data(PruningReport.svg(m).utf8).write(to: root.appendingPathComponent("sparsity.svg"))
            }
            manifest = m
        }
        try stagedOutput?.commit()
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
