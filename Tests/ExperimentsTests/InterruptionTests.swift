import Foundation
import Testing
import _TestSupport
@testable import Experiments

/// SIGINT and SIGTERM stop `dlp prune` and `dlp experiment` cleanly (exit 130 / 143, nothing
/// unfinished left behind, the output untouched); SIGKILL mid-step loses only the step in flight:
/// running the plan again gives the results of an uninterrupted run.
@Suite(.serialized) struct InterruptionTests {
    static let smol = TestAssets.model("smollm2-135m")
    static let c4 = TestAssets.data("c4.utf8")
    static let ptb = TestAssets.data("ptb/test.txt")

    static let plan = """
        {"name": "tiny", "calibration": {"samples": 4, "seqlen": 128, "seed": 0}, "datasets": {"ptb": ""},
         "perplexity": {"seqlen": 64, "max_windows": 1},
         "grids": [{"models": ["smollm2-135m"], "methods": ["wanda"], "allocations": ["uniform", "dlp"],
                    "sparsities": [0.5], "perplexity": ["ptb"]}]}
        """

    func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("interrupt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Writes the tiny plan into `folder`; the result starts `dlp experiment` on it with its
    /// results in `folder/NAME`.
    func experimentStarter(in folder: URL) throws -> (_ results: String) throws -> Process {
        let planFile = folder.appendingPathComponent("tiny.json")
        try Data(Self.plan.utf8).write(to: planFile)
        return { results in try self.start(["experiment", planFile.path, "--results", folder.appendingPathComponent(results).path]) }
    }

    func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = TestAssets.dlpExecutable
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Waits until `condition` holds (polling), at most `seconds`.
    func wait(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    /// Every file and folder under `url`, relative.
    /// SIGKILL to the runner's child processes (an experiment step), then to the runner.
    func killWithChildren(_ process: Process) throws {
        let children = Process()
        children.executableURL = URL(fileURLWithPath: "/usr/bin/pkill")
        children.arguments = ["-KILL", "-P", "\(process.processIdentifier)"]
        try children.run()
        children.waitUntilExit()
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func contents(_ url: URL) -> [String] {
        (FileManager.default.enumerator(atPath: url.path)?.allObjects as? [String] ?? []).sorted()
    }

    @Test(.enabled(if: TestAssets.has(smol, c4)), arguments: [(SIGINT, Int32(130)), (SIGTERM, Int32(143))])
    func pruneStopsCleanly(signal: Int32, status: Int32) throws {
        try #require(FileManager.default.isExecutableFile(atPath: TestAssets.dlpExecutable.path))
        let folder = try folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("out")
        let process = try start(["prune", Self.smol.path, "--method", "wanda", "--allocation", "uniform", "--samples", "16",
                                 "--seqlen", "256", "--formats", "gguf", "--output", output.path])
        // Interrupt once the staging directory exists (the pruning pass is running).
        let staging = wait(60) { contents(folder).contains { $0.hasPrefix(".out.tmp-") } }
        #expect(staging)
        usleep(300_000)
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == status)
        #expect(contents(folder).isEmpty, "left behind: \(contents(folder))")
    }

    @Test(.enabled(if: TestAssets.has(smol, c4, ptb)))
    func experimentStopsCleanlyAndResumesLikeAnUninterruptedRun() throws {
        try #require(FileManager.default.isExecutableFile(atPath: TestAssets.dlpExecutable.path))
        let folder = try folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try experimentStarter(in: folder)

        // Uninterrupted.
        let clean = try run("clean")
        clean.waitUntilExit()
        #expect(clean.terminationStatus == 0)
        let expected = try String(contentsOf: folder.appendingPathComponent("clean/results.csv"), encoding: .utf8)
        #expect(expected.contains("wanda-dlp-a0.15-median-p50"))

        // SIGINT to the runner while the first prune runs in its child: exit 130, the child
        // stopped, no job file, staging directory or partial result left.
        let cell = folder.appendingPathComponent("stopped/smollm2-135m/wanda-uniform-p50")
        let stopped = try run("stopped")
        #expect(wait(60) { contents(cell).contains { $0.hasPrefix(".pruned.tmp-") } })
        kill(stopped.processIdentifier, SIGINT)
        stopped.waitUntilExit()
        #expect(stopped.terminationReason == .exit && stopped.terminationStatus == 130)
        #expect(contents(cell).filter { $0.hasPrefix(".") }.isEmpty, "left behind: \(contents(cell))")
        #expect(!FileManager.default.fileExists(atPath: cell.appendingPathComponent("pruned/manifest.json").path))

        // SIGKILL of runner and child in the second cell's prune; a rerun finishes the plan and
        // gives the uninterrupted results.
        let killed = try run("stopped")
        let second = folder.appendingPathComponent("stopped/smollm2-135m/wanda-dlp-a0.15-median-p50")
        #expect(wait(120) { contents(second).contains { $0.hasSuffix(".job.json") } })
        usleep(500_000)
        try killWithChildren(killed)
        let resumed = try run("stopped")
        resumed.waitUntilExit()
        #expect(resumed.terminationStatus == 0)
        let csv = try String(contentsOf: folder.appendingPathComponent("stopped/results.csv"), encoding: .utf8)
        #expect(csv == expected)
        #expect(contents(second).filter { $0.hasPrefix(".") }.isEmpty, "left behind: \(contents(second))")
    }

    /// SIGKILL of the runner and its child at random moments (three, drawn afresh each run and
    /// named in any failure), each followed by a rerun: the plan always finishes with the
    /// uninterrupted run's results.csv, and no hidden file is left in any cell.
    @Test(.enabled(if: TestAssets.has(smol, c4, ptb)))
    func killedAtRandomPointsResumesToTheSameResults() throws {
        try #require(FileManager.default.isExecutableFile(atPath: TestAssets.dlpExecutable.path))
        let folder = try folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try experimentStarter(in: folder)

        let started = Date()
        let clean = try run("clean")
        clean.waitUntilExit()
        let seconds = Date().timeIntervalSince(started)
        #expect(clean.terminationStatus == 0)
        let expected = try String(contentsOf: folder.appendingPathComponent("clean/results.csv"), encoding: .utf8)

        var generator = SystemRandomNumberGenerator()
        let points = (0..<3).map { _ in Double.random(in: 0.2...max(0.3, seconds * 0.9), using: &generator) }
        for (round, point) in points.enumerated() {
            let killed = try run("killed")
            usleep(UInt32(point * 1e6))
            try killWithChildren(killed)
            let resumed = try run("killed")
            resumed.waitUntilExit()
            #expect(resumed.terminationStatus == 0, "round \(round): killed at \(point) s of \(seconds) s")
            let csv = try String(contentsOf: folder.appendingPathComponent("killed/results.csv"), encoding: .utf8)
            #expect(csv == expected, "round \(round): killed at \(point) s of \(seconds) s")
            let enumerator = FileManager.default.enumerator(atPath: folder.appendingPathComponent("killed").path)
            let hidden = (enumerator?.allObjects as? [String] ?? []).filter { ($0 as NSString).lastPathComponent.hasPrefix(".") }
            #expect(hidden.isEmpty, "round \(round): killed at \(point) s: left behind \(hidden)")
            // The next round starts the plan over.
            try FileManager.default.removeItem(at: folder.appendingPathComponent("killed"))
        }
    }
}
