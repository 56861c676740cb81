import Foundation

/// What can go wrong reading a plan or running one, with where and what to do.
public enum ExperimentError: Error, CustomStringConvertible, Equatable {
    /// The plan file is unreadable or not JSON.
    case unreadablePlan(path: String, reason: String)
    /// A key of the plan has a wrong value or is unknown.
    case invalidPlan(path: String, key: String, reason: String)
    /// A cell directory holds the output of a different run than the plan describes.
    case conflictingCell(directory: String, reason: String)
    /// A step (job) of a cell failed.
    case stepFailed(cell: String, step: String, reason: String)
    /// A result file of a finished step cannot be read.
    case unreadableResult(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadablePlan(path, reason):
            return "\(path): cannot read the plan: \(reason)"
        case let .invalidPlan(path, key, reason):
            return "\(path): \(key): \(reason)"
        case let .conflictingCell(directory, reason):
            return "\(directory) holds a different run (\(reason)); remove that directory or give the plan another name"
        case let .stepFailed(cell, step, reason):
            return (cell.isEmpty ? "" : "\(cell): ") + "\(step) failed: \(reason). Fix the cause and run the plan again: finished steps are kept"
        case let .unreadableResult(path, reason):
            return "\(path): \(reason); delete the file to have the step run again"
        }
    }
}
