import Foundation
import Testing
import _TestSupport

/// A prune whose export fills the disk: the error names the file and says what to do (exit 1),
/// the staging directory is gone, and an earlier output and the input are untouched. Runs on a
/// small tmpfs the test mounts, so it needs root; elsewhere it is skipped with that reason.
@Suite(.serialized) struct FullDiskTests {
    static let smol = TestAssets.model("smollm2-135m")
    static let c4 = TestAssets.data("c4.utf8")

    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) -> (status: Int32, stderr: String) {
        runCapturingStandardError(executable, arguments)
    }

    /// Whether this process may mount a tmpfs (root in a mount namespace that allows it).
    static let canMount: Bool = {
        guard getuid() == 0 else { return false }
        let probe = FileManager.default.temporaryDirectory.appendingPathComponent("dlp-mount-probe-\(getpid())")
        try? FileManager.default.createDirectory(at: probe, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: probe) }
        guard run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe.path]).status == 0 else { return false }
        run("/bin/umount", [probe.path])
        return true
    }()

    @Test(.enabled(if: TestAssets.has(smol, c4)), .enabled(if: canMount, "mounting a small tmpfs needs root"))
    func fullDiskDuringExportLosesNothing() throws {
        let executable = TestAssets.dlpExecutable
        try #require(FileManager.default.isExecutableFile(atPath: executable.path), "no dlp executable at \(executable.path)")
        let mount = FileManager.default.temporaryDirectory.appendingPathComponent("dlp-full-disk-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: mount, withIntermediateDirectories: true)
        try #require(Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=40m", "tmpfs", mount.path]).status == 0)
        defer {
            Self.run("/bin/umount", [mount.path])
            try? FileManager.default.removeItem(at: mount)
        }
        let output = mount.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        try Data("earlier".utf8).write(to: output.appendingPathComponent("marker"))
        let inputDigest = try Data(contentsOf: Self.smol, options: .alwaysMapped).prefix(1 << 20)

        // The F32 model.gguf alone needs ~457 MB; the mount holds 40 MB.
        let (status, message) = Self.run(executable.path, [
            "prune", Self.smol.path, "--method", "magnitude", "--sparsity", "0.5", "--samples", "2", "--seqlen", "64",
            "--calibration", Self.c4.path, "--formats", "gguf", "--no-cache", "--output", output.path, "--force"])
        #expect(status == 1, "\(message)")
        #expect(message.contains("no space left on the device while writing \(mount.path)"), "\(message)")
        let left = try FileManager.default.contentsOfDirectory(atPath: mount.path)
        #expect(left == ["out"], "staging left behind: \(left)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: output.path) == ["marker"])
        #expect(try String(contentsOf: output.appendingPathComponent("marker"), encoding: .utf8) == "earlier")
        #expect(try Data(contentsOf: Self.smol, options: .alwaysMapped).prefix(1 << 20) == inputDigest)
    }

    /// A prune whose output is on a read-only file system is refused before anything loads (exit
    /// 64, naming the place); nothing is written.
    @Test(.enabled(if: TestAssets.has(smol, c4)), .enabled(if: canMount, "mounting a read-only tmpfs needs root"))
    func readOnlyOutputIsRefusedBeforeWork() throws {
        let executable = TestAssets.dlpExecutable
        try #require(FileManager.default.isExecutableFile(atPath: executable.path), "no dlp executable at \(executable.path)")
        let mount = FileManager.default.temporaryDirectory.appendingPathComponent("dlp-read-only-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: mount, withIntermediateDirectories: true)
        try #require(Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", mount.path]).status == 0)
        defer {
            Self.run("/bin/umount", [mount.path])
            try? FileManager.default.removeItem(at: mount)
        }
        let output = mount.appendingPathComponent("out")
        let (status, message) = Self.run(executable.path, [
            "prune", Self.smol.path, "--method", "magnitude", "--sparsity", "0.5", "--samples", "2", "--seqlen", "64",
            "--calibration", Self.c4.path, "--formats", "gguf", "--no-cache", "--output", output.path])
        #expect(status == 64, "\(message)")
        #expect(message.contains(mount.path), "\(message)")
        // Refused by the check of the settings, before the model or the calibration text is read.
        #expect(message.contains("the parent directory \(mount.path) is not writable"), "\(message)")
        #expect(message.contains("usage: dlp prune") && !message.contains("tok/s"), "refused only after work: \(message)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: mount.path).isEmpty)
    }
}
