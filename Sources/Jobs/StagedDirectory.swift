import Foundation

/// An output directory written atomically: everything goes into a hidden sibling
/// (`.NAME.tmp-PID`), which ``commit()`` renames to the destination, moving an existing one aside
/// first so that a failure never leaves neither. Dropped without a commit, or interrupted by a
/// signal (``Interruption``), the staging directory is removed. Staging directories left by a
/// process that no longer runs (killed with SIGKILL, a power cut) are removed when the next one
/// for the same destination starts.
public final class StagedDirectory {
    public let destination: URL
    /// Where to write.
    public let staging: URL
    private var committed = false
    private let ticket: Int

    public init(destination: URL) throws {
        self.destination = destination
        let parent = destination.deletingLastPathComponent()
        let prefix = ".\(destination.lastPathComponent).tmp-"
        staging = parent.appendingPathComponent(prefix + "\(getpid())")
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: parent.path)) ?? [] where name.hasPrefix(prefix) {
            // This process's own left-over, one of an ended process, or not named by a pid.
            if let pid = pid_t(name.dropFirst(prefix.count)), pid != getpid(), !Interruption.processHasEnded(pid) { continue }
            try? fm.removeItem(at: parent.appendingPathComponent(name))
        }
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        ticket = Interruption.removeOnInterrupt(staging)
    }

    /// Replaces the destination with the staging directory.
    public func commit() throws {
        let fm = FileManager.default
        let aside = destination.deletingLastPathComponent()
            .appendingPathComponent(".\(destination.lastPathComponent).old-\(getpid())")
        if fm.fileExists(atPath: destination.path) { try fm.moveItem(at: destination, to: aside) }
        do { try fm.moveItem(at: staging, to: destination) } catch {
            if fm.fileExists(atPath: aside.path) { try? fm.moveItem(at: aside, to: destination) }
            throw error
        }
        try? fm.removeItem(at: aside)
        committed = true
        Interruption.forget(ticket)
    }

    deinit {
        Interruption.forget(ticket)
        if !committed { try? FileManager.default.removeItem(at: staging) }
    }
}
