import Foundation
import Testing
import Jobs

/// Staging directories left by a process killed outright are removed by the next one for the
/// same destination, also while the killed process is a zombie its parent has not reaped (the
/// container's init reaps late, and a rerun starts at once).
@Suite struct StagedDirectoryTests {
    /// Starts `/bin/true` without reaping it: once it has exited it is a zombie until `reap`.
    static func zombie() throws -> pid_t {
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
        defer { for p in argv { free(p) } }
        let status = posix_spawn(&pid, "/bin/true", nil, nil, argv, environ)
        try #require(status == 0, "posix_spawn: \(status)")
        // Wait until it has exited, without reaping it.
        for _ in 0..<200 where !Interruption.isZombie(pid) { usleep(10_000) }
        return pid
    }

    @Test func zombieHasEnded() throws {
        let pid = try Self.zombie()
        defer { var status: Int32 = 0; waitpid(pid, &status, 0) }
        #expect(kill(pid, 0) == 0, "a zombie is still found by kill(pid, 0)")
        #expect(Interruption.isZombie(pid))
        #expect(Interruption.processHasEnded(pid))
        #expect(!Interruption.processHasEnded(getpid()))
        #expect(!Interruption.processHasEnded(getppid()))
    }

    @Test func leftOversOfEndedProcessesAreRemoved() throws {
        let fm = FileManager.default
        let parent = fm.temporaryDirectory.appendingPathComponent("dlp-staged-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? fm.removeItem(at: parent) }
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        let destination = parent.appendingPathComponent("out")
        let zombie = try Self.zombie()
        defer { var status: Int32 = 0; waitpid(zombie, &status, 0) }
        let running = getppid()
        for name in [".out.tmp-\(zombie)", ".out.tmp-\(running)", ".out.tmp-x", ".other.tmp-\(zombie)"] {
            try fm.createDirectory(at: parent.appendingPathComponent(name + "/.work"), withIntermediateDirectories: true)
        }
        let staged = try StagedDirectory(destination: destination)
        try Data("x".utf8).write(to: staged.staging.appendingPathComponent("f"))
        try staged.commit()
        let left = try fm.contentsOfDirectory(atPath: parent.path).sorted()
        #expect(left == [".other.tmp-\(zombie)", ".out.tmp-\(running)", "out"])
    }
}
