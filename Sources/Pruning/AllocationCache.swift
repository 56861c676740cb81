import Foundation
import TensorIO

/// Per-block ratios of an allocation pass, stored under a key made of everything they depend on
/// (model digest, calibration windows digest, allocation and its parameters, target sparsity),
/// so a run with another pruner reuses them instead of repeating the dense pass.
///
/// Files: `directory/<key>.json`, written atomically; an unreadable entry is treated as a miss.
public struct AllocationCache: Sendable {
    public struct Entry: Sendable, Codable, Equatable {
        public var key: String
        public var description: String
        public var ratios: [Double]
        /// The per-block statistic the allocation ranked by, if it has one.
        public var statistics: [Double]?

        public init(key: String, description: String, ratios: [Double], statistics: [Double]?) {
            self.key = key
            self.description = description
            self.ratios = ratios
            self.statistics = statistics
        }
    }

    public let directory: URL

    public init(directory: URL) { self.directory = directory }

    /// The key: sha256 of the canonical description of what the ratios depend on.
    public static func key(modelSHA256: String, windowsSHA256: String, allocation: String,
                           parameters: [String: String], target: Double) -> (key: String, description: String) {
        let parts = parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        let description = "model=\(modelSHA256);calibration=\(windowsSHA256);allocation=\(allocation)(\(parts));target=\(target)"
        return (SHA256Digest.hex(description), description)
    }

    /// The stored entry for `key`, if any and well-formed.
    public func load(_ key: String) -> Entry? {
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent("\(key).json").path),
              let entry = try? JSONDecoder().decode(Entry.self, from: data), entry.key == key else { return nil }
        return entry
    }

    /// Stores `entry` (best effort: a cache that cannot be written only costs time later).
    public func store(_ entry: Entry) {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(entry).write(to: directory.appendingPathComponent("\(entry.key).json"), options: .atomic)
        } catch {
            FileHandle.standardError.write(Data("note: allocation cache not written (\(error))\n".utf8))
        }
    }
}
