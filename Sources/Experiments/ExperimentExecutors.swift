import Foundation
import Jobs

/// Runs each job in this process. Fast to start and easy to test; a long plan is better served by
/// ``ChildProcessExecutor``, which returns each step's memory to the system and survives a crash
/// of one step.
public struct InProcessExecutor: ExperimentStepExecutor {
    public var observer: JobObserver

    public init(observer: JobObserver = .silent) { self.observer = observer }

    public func run(_ job: Job, result: URL?) throws {
        let data = try job.run(observer: observer)
        if let result { try data.write(to: result) }
    }
}

/// Runs each job as `dlp job FILE [--result PATH]` in a child process of `executable`: the job
/// travels as a JSON file (written beside the result or the prune output and removed after), not
/// as re-assembled flags. Each step gets a fresh process, so a 1.5B-parameter prune gives its
/// memory back before the next step, and a crash fails only its step. The child's progress goes
/// to this process's terminal.
public struct ChildProcessExecutor: ExperimentStepExecutor {
    public let executable: URL

    public init(executable: URL) { self.executable = executable }

    public func run(_ job: Job, result: URL?) throws {
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw ExperimentError.stepFailed(
                cell: "", step: job.kind,
                reason: "the dlp executable \(executable.path) is gone (removed, or being rebuilt); run the plan again once it is back")
        }
        let folder: URL
        switch job {
        case .prune(let j): folder = j.outputURL.deletingLastPathComponent()
        case .convert(let j): folder = j.destinationURL.deletingLastPathComponent()
        case .finetune(let j): folder = j.outputURL.deletingLastPathComponent()
        default: folder = result?.deletingLastPathComponent() ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        Self.removeStaleJobFiles(in: folder)
        let file = folder.appendingPathComponent(".\(job.kind)-\(getpid())-\(UUID().uuidString.prefix(8)).job.json")
        try job.write(to: file)
        let tickets = [Interruption.removeOnInterrupt(file)] + (result.map { [Interruption.removeOnInterrupt($0)] } ?? [])
        defer {
            tickets.forEach(Interruption.forget)
            try? FileManager.default.removeItem(at: file)
        }
        let process = Process()
        process.executableURL = executable
        process.arguments = ["job", file.path] + (result.map { ["--result", $0.path] } ?? [])
        try process.run()
        let child = Interruption.signalOnInterrupt(process.processIdentifier)
        defer { Interruption.forget(child) }
        process.waitUntilExit()
        Interruption.waitIfInterrupting()
        let status = process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
        guard status == 0 else {
            throw ExperimentError.stepFailed(cell: "", step: "dlp job (\(job.kind))",
                                             reason: "exit status \(status); its messages are above")
        }
    }

    /// Job files (`.KIND-PID-ID.job.json`) of runners that no longer run (killed with SIGKILL).
    static func removeStaleJobFiles(in folder: URL) {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: folder.path)) ?? [] where name.hasPrefix(".") && name.hasSuffix(".job.json") {
            let parts = name.split(separator: "-")
            guard parts.count >= 3, let pid = pid_t(parts[1]), Interruption.processHasEnded(pid) else { continue }
            try? fm.removeItem(at: folder.appendingPathComponent(name))
        }
    }
}
