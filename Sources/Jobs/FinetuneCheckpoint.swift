import Foundation
import TensorCore
import TensorIO
import Training

/// What makes two fine-tuning runs the same run: the model, the data split and the settings
/// that fix the trajectory. A checkpoint resumes only into a run with an equal identity.
public struct FinetuneIdentity: Sendable, Codable, Equatable {
    public var modelSHA256: String
    public var data: FinetuneCorpus.Description
    public var hyperparameters: FinetuneHyperparameters

    public init(modelSHA256: String, data: FinetuneCorpus.Description, hyperparameters: FinetuneHyperparameters) {
        self.modelSHA256 = modelSHA256
        self.data = data
        self.hyperparameters = hyperparameters
    }

    /// The names of the fields that differ from `other` (dotted for nested ones), for a message.
    func differences(from other: FinetuneIdentity) -> [String] {
        func flat(_ value: FinetuneIdentity) -> [String: String] {
            guard let data = try? JSONEncoder().encode(value),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
            var result = [String: String]()
            for (key, value) in object {
                if let nested = value as? [String: Any] {
                    for (k, v) in nested { result["\(key).\(k)"] = "\(v)" }
                } else {
                    result[key] = "\(value)"
                }
            }
            return result
        }
        let a = flat(self), b = flat(other)
        return Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
    }
}

/// A saved fine-tuning state: the trainable values, AdamW's state and the progress, in one
/// safetensors file written atomically (`state.safetensors` in `OUTPUT.partial/`):
///
///     parameters              F32 [n]   the flat trainable vector (``TrainableParameters/values``)
///     adamw.first_moment      F32 [n]   m
///     adamw.second_moment     F32 [n]   v
///     metadata dlp.finetune.identity / .optimizer / .progress   JSON
///
/// F32 tensors keep every bit, so a resumed run continues from exactly these values.
public struct FinetuneCheckpoint: Sendable {
    public var parameters: [Float]
    public var optimizer: AdamW<Float>.State
    public var progress: FinetuneProgress

    public static let fileName = "state.safetensors"

    struct OptimizerHeader: Codable {
        var settings: AdamW<Float>.Settings
        var step: Int
    }

    /// Writes the checkpoint for a run of `identity` to `url` (atomically).
    public func write(to url: URL, identity: FinetuneIdentity) throws {
        let n = parameters.count
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func json<T: Encodable>(_ value: T) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }
        let metadata = [
            "format": "pt",
            "dlp.finetune.identity": try json(identity),
            "dlp.finetune.optimizer": try json(OptimizerHeader(settings: optimizer.settings, step: optimizer.step)),
            "dlp.finetune.progress": try json(progress),
        ]
        try SafetensorsWriter.write([
            .init(name: "parameters", dtype: .f32, shape: [n], values: parameters),
            .init(name: "adamw.first_moment", dtype: .f32, shape: [n], values: optimizer.firstMoment),
            .init(name: "adamw.second_moment", dtype: .f32, shape: [n], values: optimizer.secondMoment),
        ], metadata: metadata, to: url)
    }

    /// Reads a checkpoint and checks that it belongs to a run of `identity`.
    public static func read(from url: URL, identity: FinetuneIdentity) throws -> FinetuneCheckpoint {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(url: url) } catch {
            throw JobError.invalidSetting(setting: "resume", reason: "\(url.path) is not a readable fine-tuning checkpoint (\(error)); remove it to start afresh")
        }
        func decode<T: Decodable>(_ key: String, as type: T.Type) throws -> T {
            guard let text = file.metadata[key], let value = try? JSONDecoder().decode(T.self, from: Data(text.utf8)) else {
                throw JobError.invalidSetting(setting: "resume", reason: "\(url.path) has no valid \(key); remove it to start afresh")
            }
            return value
        }
        let saved = try decode("dlp.finetune.identity", as: FinetuneIdentity.self)
        guard saved == identity else {
            let fields = saved.differences(from: identity)
            throw JobError.invalidSetting(setting: "resume", reason: "\(url.path) was saved by a run with other settings or data (differing: \(fields.joined(separator: ", "))); resume with the settings it was saved with, or remove it to start afresh")
        }
        let header = try decode("dlp.finetune.optimizer", as: OptimizerHeader.self)
        let progress = try decode("dlp.finetune.progress", as: FinetuneProgress.self)
        func tensor(_ name: String) throws -> [Float] {
            guard let entry = file.entry(name), entry.dtype == .f32 else {
                throw JobError.invalidSetting(setting: "resume", reason: "\(url.path) has no F32 tensor \(name); remove it to start afresh")
            }
            return try file.floats(name)
        }
        return FinetuneCheckpoint(
            parameters: try tensor("parameters"),
            optimizer: AdamW<Float>.State(settings: header.settings, step: header.step, firstMoment: try tensor("adamw.first_moment"),
                                          secondMoment: try tensor("adamw.second_moment")),
            progress: progress)
    }
}

/// Holds the state of the last finished step and writes it to `OUTPUT.partial/state.safetensors`
/// when asked, from the training thread or from the signal handler (one writer at a time).
final class FinetuneStateSaver: @unchecked Sendable {
    private let lock = NSLock()
    private var latest: FinetuneCheckpoint?
    private var savedStep: Int?
    let url: URL
    let identity: FinetuneIdentity

    init(url: URL, identity: FinetuneIdentity) {
        self.url = url
        self.identity = identity
    }

    /// Keeps `checkpoint` as the state to save (copy-on-write: no values are copied here).
    func update(_ checkpoint: FinetuneCheckpoint) {
        lock.lock()
        latest = checkpoint
        lock.unlock()
    }

    /// Writes the latest state unless it is already on disk; returns its step.
    @discardableResult
    func save() throws -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard let latest else { return nil }
        if savedStep != latest.progress.step {
            try latest.write(to: url, identity: identity)
            savedStep = latest.progress.step
        }
        return savedStep
    }

    /// ``save()`` for the signal handler: reports a failure on stderr instead of throwing.
    func saveQuietly() {
        do {
            let step = try save()
            FileHandle.standardError.write(Data("\nsaved the state after step \(step ?? 0) in \(url.path)".utf8))
        } catch {
            FileHandle.standardError.write(Data("\ncould not save the training state to \(url.path): \(error)".utf8))
        }
    }
}
