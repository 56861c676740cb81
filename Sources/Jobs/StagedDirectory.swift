import Foundation

/// An output directory written atomically: everything goes into a hidden sibling
/// (`.NAME.tmp-PID`), which ``commit()`` renames to the destination, moving an existing one aside
/// first so that a failure never leaves neither. Dropped without a commit, the staging directory
/// is removed.
public final class StagedDirectory {
    public let destination: URL
    /// Where to write.
    public let staging: URL
    private var committed = false

    public init(destination: URL) throws {
        self.destination = destination
        let parent = destination.deletingLastPathComponent()
        staging = parent.appendingPathComponent(".\(destination.lastPathComponent).tmp-\(getpid())")
        let fm = FileManager.default
        try? fm.removeItem(at: staging)
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
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
    }

    deinit {
        if !committed { try? FileManager.default.removeItem(at: staging) }
    }
}
