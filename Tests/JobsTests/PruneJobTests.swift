import Foundation
import Jobs
import Pruning
import TensorCore
import Testing
import Transformer
import _TestSupport

/// The prune job from the library equals the `dlp prune` command line: the same manifest and
/// bit-identical exported weights. Validation names the setting; jobs survive JSON unchanged.
@Suite(.serialized) struct PruneJobTests {
    static let smol = TestAssets.model("smollm2-135m")
    static let c4 = TestAssets.data("c4.utf8")

    static func folder() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("prune-job-\(UUID().uuidString)")
    }

    static func calibration(samples: Int = 2, tokens: Int = 64) -> CalibrationSettings {
        CalibrationSettings(source: CalibrationSource(name: "c4", path: c4.path), sampling: .stream, samples: samples,
                            sequenceLength: tokens, seed: 0)
    }

    @Test(.enabled(if: TestAssets.has(smol, c4)))
    func jobGivesTheManifestAndWeightsOfTheCommandLine() throws {
        let folder = Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let executable = TestAssets.dlpExecutable
        try #require(FileManager.default.isExecutableFile(atPath: executable.path), "no dlp executable at \(executable.path)")
        let cli = folder.appendingPathComponent("cli"), library = folder.appendingPathComponent("library")
        let process = Process()
        process.executableURL = executable
        process.arguments = ["prune", Self.smol.path, "--method", "wanda", "--allocation", "dlp", "--alpha", "0.1",
                             "--samples", "2", "--seqlen", "64", "--calibration", Self.c4.path, "--threads", "2",
                             "--no-cache", "--formats", "gguf", "--output", cli.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)

        let job = PruneJob(model: Self.smol.path, method: .wanda,
                           allocation: try Allocation(name: "dlp", parameters: ["alpha": "0.1"]), target: 0.7,
                           calibration: CalibrationSettings(source: CalibrationSource(name: Self.c4.lastPathComponent, path: Self.c4.path),
                                                            sampling: .stream, samples: 2, sequenceLength: 64, seed: 0),
                           threads: 2, reuseCachedAllocation: false, exports: .init(formats: [.gguf]), output: library.path)
        try job.validate()
        let ours = try job.run()
        let theirs = try JSONDecoder().decode(PruningManifest.self, from: try Data(contentsOf: cli.appendingPathComponent("manifest.json")))
        #expect(ours.settings == theirs.settings)
        #expect(ours.calibration.settings == theirs.calibration.settings)
        #expect(ours.calibration.windowsSHA256 == theirs.calibration.windowsSHA256)
        #expect(ours.model.sha256 == theirs.model.sha256 && ours.model.prunableParameters == theirs.model.prunableParameters)
        #expect(ours.blocks.map(\.requestedRatio) == theirs.blocks.map(\.requestedRatio))
        #expect(ours.blocks.map(\.measuredSparsity) == theirs.blocks.map(\.measuredSparsity))
        #expect(ours.blocks.map(\.statistic) == theirs.blocks.map(\.statistic))
        #expect(ours.overallSparsity == theirs.overallSparsity)
        #expect(ours.outputs.map(\.file) == ["model.gguf"] && theirs.outputs.map(\.file) == ["model.gguf"])
        // The GGUF holds the weights and the same provenance: byte for byte the same file.
        let a = try Data(contentsOf: cli.appendingPathComponent("model.gguf"))
        let b = try Data(contentsOf: library.appendingPathComponent("model.gguf"))
        #expect(a.count == b.count && a == b, "model.gguf differs between dlp prune and PruneJob")
        #expect(FileManager.default.fileExists(atPath: library.appendingPathComponent("report.md").path))
        // Nothing of the staging directory is left beside the output.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test func invalidSettingsNameTheSetting() throws {
        let folder = Self.folder()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = folder.appendingPathComponent("docs.txt")
        try Data("a document\n".utf8).write(to: source)
        let calibration = CalibrationSettings(source: CalibrationSource(name: "docs.txt", path: source.path), sampling: .stream,
                                              samples: 1, sequenceLength: 8, seed: 0)
        let good = PruneJob(model: "m", allocation: try .named("ramp"), calibration: calibration,
                            output: folder.appendingPathComponent("out").path)
        try good.validate()
        func setting(_ change: (inout PruneJob) -> Void) -> String? {
            var job = good
            change(&job)
            do { try job.validate() } catch let error as JobError {
                if case let .invalidSetting(setting, _) = error { return setting }
            } catch { return "other error \(error)" }
            return nil
        }
        #expect(setting { $0.target = 1 } == "sparsity")
        #expect(setting { $0.pattern = .nm(zeros: 2, group: 4) } == "sparsity")
        #expect(setting { $0.calibration.samples = 0 } == "samples")
        #expect(setting { $0.calibration.source.path = folder.appendingPathComponent("missing").path } == "calibration")
        #expect(setting { $0.exports.formats = [] } == "formats")
        #expect(setting { $0.exports.ggufType = .q4_1 } == "gguf-dtype")
        #expect(setting { $0.evaluationSequenceLength = 1 } == "eval-seqlen")
        #expect(setting { $0.threads = 0 } == "threads")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("out"), withIntermediateDirectories: true)
        #expect(setting { _ in } == "output")
        #expect(setting { $0.replaceExisting = true } == nil)
    }

    @Test func jobsSurviveTheirJSONFiles() throws {
        let folder = Self.folder()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let jobs: [Job] = [
            .prune(PruneJob(model: "smollm2-135m", method: .sparsegpt, allocation: try Allocation(name: "owl", parameters: ["M": "7"]),
                            target: 0.5, pattern: .nm(zeros: 2, group: 4), calibration: Self.calibration(), threads: 3,
                            evaluations: [.ptb(URL(fileURLWithPath: "/d/ptb.txt"))], evaluationWindows: 4,
                            exports: .init(formats: [.safetensors], ggufType: .f16), output: "/o", command: ["dlp", "x"])),
            .perplexity(PerplexityJob(model: "/m.gguf", dataset: .wikitext2(URL(fileURLWithPath: "/w.raw")), sequenceLength: 512,
                                      maxWindows: 2)),
            .zeroshot(ZeroShotJob(model: "/m.gguf", tasks: [.boolq, .arcEasy], dataDirectory: "/z", limit: 10)),
        ]
        for job in jobs {
            let file = folder.appendingPathComponent("\(job.kind).json")
            try job.write(to: file)
            #expect(try Job.load(from: file) == job)
        }
        let text = try String(contentsOf: folder.appendingPathComponent("prune.json"), encoding: .utf8)
        #expect(text.contains(#""pattern" : "2:4""#) && text.contains(#""name" : "owl""#) && text.contains(#""ptb:/d/ptb.txt""#))
        try Data(#"{"kind": "train", "job": {}}"#.utf8).write(to: folder.appendingPathComponent("bad.json"))
        #expect(throws: JobError.self) { try Job.load(from: folder.appendingPathComponent("bad.json")) }
    }

    /// Bad input at the command line is a usage error (exit 64) that names what is wrong: a flag of
    /// another allocation, an unknown allocation, a job file that is not a job.
    @Test func commandLineNamesBadInput() throws {
        let executable = TestAssets.dlpExecutable
        try #require(FileManager.default.isExecutableFile(atPath: executable.path), "no dlp executable at \(executable.path)")
        let folder = Self.folder()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let bad = folder.appendingPathComponent("bad.json")
        try Data(#"{"kind": "train", "job": {}}"#.utf8).write(to: bad)
        func run(_ arguments: [String]) throws -> (Int32, String) {
            let process = Process()
            process.executableURL = executable
            process.arguments = arguments
            let pipe = Pipe()
            process.standardError = pipe
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, text)
        }
        let out = folder.appendingPathComponent("out").path
        for (arguments, message) in [
            (["prune", "m", "--allocation", "dlp", "--owl-m", "3", "--output", out], "--owl-m does not apply to --allocation dlp"),
            (["prune", "m", "--allocation", "uniform", "--alpha", "0.1", "--output", out], "--alpha does not apply to --allocation uniform; it is a parameter of dlp, ramp"),
            (["prune", "m", "--allocation", "nope", "--output", out], "--allocation nope: not an allocation; valid: uniform, owl, dlp, ramp"),
            (["prune", "m", "--statistic", "max", "--output", out], "statistic 'max' is not valid; valid: median, mean"),
            (["job", bad.path], "unknown kind 'train'"),
            (["generate", "m"], "give the prompt: --prompt TEXT or --file PATH"),
            (["generate", "m", "--prompt", "a", "--file", bad.path], "give --prompt or --file, not both"),
            (["generate", "m", "--prompt", "a", "--sparse", "maybe"], "sparse mode 'maybe' is not valid; valid: auto, on, off"),
            (["generate", "m", "--prompt", "a", "--dtype", "int4"], "value type 'int4' is not valid; valid: f32, f16, bf16"),
            (["generate", "m", "--prompt", "a", "--top-p", "1.5"], "top-p: expected a number in (0, 1]"),
            (["generate", "m", "--prompt", "a", "--system", "x"], "system: applies only with --chat"),
            (["bench", "decode", "m", "--context", "0"], "--context"),
        ] {
            let (status, text) = try run(arguments)
            #expect(status == 64 && text.contains(message), "\(arguments): \(status) \(text)")
        }
    }
}
