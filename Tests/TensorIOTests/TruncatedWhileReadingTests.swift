import Foundation
import Testing
import _TestSupport

/// A file truncated by another process while a read of its mapped bytes is under way (after the
/// size check of ``TruncatedWhileOpenTests``): the reader's SIGBUS guard ends the process with
/// status 74 (EX_IOERR) and a message naming the file, instead of a crash. A SIGBUS outside the
/// readers' mappings keeps its default action. Runs `dlp-truncation-probe` (Tests/TruncationProbe),
/// which truncates the file itself between the size check and the read, so the timing is exact.
@Suite struct TruncatedWhileReadingTests {
    /// The probe built beside the `dlp` executable.
    static var probe: URL {
        TestAssets.dlpExecutable.deletingLastPathComponent().appendingPathComponent("dlp-truncation-probe")
    }

    /// Runs the probe on a copy of `fixture`; returns the copy's path, the termination and stderr.
    static func run(_ mode: String, _ fixture: String) throws -> (path: String, reason: Process.TerminationReason,
                                                                  status: Int32, stderr: String) {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("dlp-sigbus-\(UUID().uuidString)-\(fixture.split(separator: "/").last!)")
        try FileManager.default.copyItem(at: TestAssets.fixture(fixture), to: url)
        defer {
            try? FileManager.default.removeItem(at: url)
            try? FileManager.default.removeItem(atPath: url.path + ".foreign")
        }
        let process = Process()
        process.executableURL = probe
        process.arguments = [mode, url.path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let data = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (url.path, process.terminationReason, process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test(arguments: [("gguf", "gguf/blocks.gguf"), ("safetensors", "safetensors/tiny-floats.safetensors")])
    func truncationDuringAReadExits74NamingTheFile(mode: String, fixture: String) throws {
        let result = try Self.run(mode, fixture)
        #expect(result.reason == .exit && result.status == 74, "\(result.reason) \(result.status): \(result.stderr)")
        #expect(result.stderr.hasPrefix("dlp: \(result.path) was truncated by another process while being read;"), "\(result.stderr)")
        #expect(result.stderr.contains("run the command again"))
    }

    @Test func sigbusOutsideTheReadersMappingsKeepsItsDefaultAction() throws {
        let result = try Self.run("foreign", "safetensors/tiny-floats.safetensors")
        #expect(result.reason == .uncaughtSignal && result.status == SIGBUS, "\(result.reason) \(result.status): \(result.stderr)")
        #expect(!result.stderr.contains("was truncated by another process"))
    }
}
