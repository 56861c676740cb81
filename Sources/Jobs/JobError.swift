import Foundation

/// Why a job cannot run: what, where, what to do. ``isUsageError`` separates settings the user
/// must change (exit 64) from failures while running (exit 1).
public enum JobError: Error, CustomStringConvertible, Equatable {
    /// A setting that cannot work (`setting` names it as the CLI and job files do).
    case invalidSetting(setting: String, reason: String)
    /// The run would need more memory than the machine has; `remedy` names the settings to lower.
    case insufficientMemory(needed: Int, available: Int, detail: String, remedy: String)
    /// A job file that cannot be read or decoded.
    case unreadableJob(path: String, reason: String)

    public var isUsageError: Bool {
        switch self {
        case .invalidSetting, .insufficientMemory: return true
        case .unreadableJob: return false
        }
    }

    public var description: String {
        switch self {
        case let .invalidSetting(setting, reason): return "\(setting): \(reason)"
        case let .insufficientMemory(needed, available, detail, remedy):
            return "this run needs about \(formatBytes(needed)) (\(detail)), more than 90% of the machine's \(formatBytes(available)); \(remedy)"
        case let .unreadableJob(path, reason): return "job file \(path): \(reason)"
        }
    }
}

extension JobError {
    /// Throws ``insufficientMemory(needed:available:detail:remedy:)`` when `needed` bytes exceed
    /// 90% of `available` (the machine's physical memory), before any work starts.
    static func checkMemory(needed: Int, detail: String, remedy: String,
                            available: Int = Int(ProcessInfo.processInfo.physicalMemory)) throws(JobError) {
        if needed > available / 10 * 9 {
            throw .insufficientMemory(needed: needed, available: available, detail: detail, remedy: remedy)
        }
    }
}

/// `1.23 GiB`-style byte counts.
public func formatBytes(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes), unit = 0
    while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(bytes) B" : String(format: "%.2f %@", value, units[unit])
}
