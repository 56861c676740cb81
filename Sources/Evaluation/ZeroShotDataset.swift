import Foundation

/// The questions of one task, read from `<directory>/<task>.jsonl` (one document per line, Hugging
/// Face field names; `scripts/zeroshot_data.py` writes them into `$DLP_HOME/data/zeroshot/`).
public struct ZeroShotDataset: Sendable {
    public var task: ZeroShotTask
    public var url: URL
    /// The questions, in file order.
    public var items: [ZeroShotItem]

    /// The default directory of task files: `<home>/data/zeroshot`.
    public static func defaultDirectory(home: URL) -> URL {
        home.appendingPathComponent("data/zeroshot")
    }

    /// The file `task` is read from in `directory`.
    public static func url(for task: ZeroShotTask, in directory: URL) -> URL {
        directory.appendingPathComponent("\(task.rawValue).jsonl")
    }

    /// Reads the first `limit` documents (all when nil) of `task` from `directory`.
    public init(task: ZeroShotTask, directory: URL, limit: Int? = nil) throws {
        let url = Self.url(for: task, in: directory)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ZeroShotError.missingTaskFile(path: url.path, task: task.rawValue)
        }
        var items: [ZeroShotItem] = []
        var lineNumber = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if let limit, items.count >= limit { break }
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
            items.append(try task.item(fromJSON: Data(line), line: lineNumber, path: url.path))
        }
        guard !items.isEmpty else { throw ZeroShotError.emptyTask(path: url.path) }
        self.task = task
        self.url = url
        self.items = items
    }
}
