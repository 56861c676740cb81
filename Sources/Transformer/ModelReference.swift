import Foundation

/// Resolves what a user typed for MODEL: a GGUF file, a safetensors directory, a directory
/// written by `dlp prune` (its `model.gguf`, else its `hf/`, else its `sparse/`), or the short
/// name of a model fetched into the asset cache (`$DLP_HOME/models/<name>.gguf`, default home
/// `~/.cache/dlp`).
public enum ModelReference {
    /// Short names `scripts/assets.py` fetches.
    public static let knownNames = ["smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]

    /// The asset cache directory.
    public static func home(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let path = environment["DLP_HOME"], !path.isEmpty { return URL(fileURLWithPath: path) }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/dlp")
    }

    /// The file or directory `reference` names, and its format.
    public static func resolve(_ reference: String,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> (url: URL, format: CheckpointFormat) {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: reference, isDirectory: &isDirectory) {
            let url = URL(fileURLWithPath: reference)
            guard isDirectory.boolValue else { return (url, .gguf) }
            // A directory written by `dlp prune`: its GGUF (which carries the tokenizer), else its
            // hf/, else its sparse/.
            let gguf = url.appendingPathComponent("model.gguf")
            if fm.fileExists(atPath: gguf.path) { return (gguf, .gguf) }
            for folder in ["hf", "sparse"] where fm.fileExists(atPath: url.appendingPathComponent("\(folder)/config.json").path) {
                return (url.appendingPathComponent(folder), .safetensors)
            }
            return (url, .safetensors)
        }
        let cached = home(environment: environment).appendingPathComponent("models/\(reference).gguf")
        if !reference.contains("/"), fm.fileExists(atPath: cached.path) {
            return (cached, .gguf)
        }
        var searched = [reference]
        if !reference.contains("/") {
            searched.append(cached.path)
            if !knownNames.contains(reference) {
                searched.append("known short names: \(knownNames.joined(separator: ", "))")
            }
        }
        throw ModelError.modelNotFound(reference: reference, searched: searched)
    }
}
