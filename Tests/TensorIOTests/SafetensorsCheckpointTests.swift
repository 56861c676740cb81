import Foundation
import Testing
import TensorIO
import _TestSupport

/// Checkpoint directories: config parsing, shard lookup, and one test per index inconsistency.
@Suite final class SafetensorsCheckpointTests {
    let directory: URL

    init() throws { directory = try SafetensorsTestFiles.temporaryDirectory("checkpoint") }

    deinit { try? FileManager.default.removeItem(at: directory) }

    private var indexPath: String { directory.appendingPathComponent(SafetensorsCheckpoint.indexFileName).path }

    private func writeText(_ text: String, _ name: String) throws {
        try Data(text.utf8).write(to: directory.appendingPathComponent(name))
    }

    /// Writes a shard holding one-element F32 tensors named `names`, value = position + 1.
    private func writeShard(_ name: String, _ names: [String]) throws {
        let tensors = names.enumerated().map { SafetensorsWriter.Tensor(name: $1, dtype: .f32, shape: [1], values: [Float($0 + 1)]) }
        try SafetensorsWriter.write(tensors, to: directory.appendingPathComponent(name))
    }

    private func writeIndex(_ map: [(String, String)]) throws {
        let body = map.map { "\"\($0.0)\": \"\($0.1)\"" }.joined(separator: ", ")
        try writeText("{\"metadata\": {\"total_size\": 0}, \"weight_map\": {\(body)}}", SafetensorsCheckpoint.indexFileName)
    }

    private func openError() -> SafetensorsError? {
        do {
            _ = try SafetensorsCheckpoint(directory: directory)
            return nil
        } catch {
            return error
        }
    }

    private let config = """
        {"architectures": ["LlamaForCausalLM"], "hidden_size": 576, "num_hidden_layers": 30,
         "rope_theta": 100000.0, "rope_scaling": {"rope_type": "llama3", "factor": 8.0}, "tie_word_embeddings": true}
        """

    @Test func readsShardedCheckpointAndConfig() throws {
        try writeText(config, "config.json")
        try writeShard("model-00001-of-00002.safetensors", ["a", "b"])
        try writeShard("model-00002-of-00002.safetensors", ["c"])
        try writeIndex([("a", "model-00001-of-00002.safetensors"), ("c", "model-00002-of-00002.safetensors"),
                        ("b", "model-00001-of-00002.safetensors")])
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        #expect(checkpoint.tensors.map(\.name) == ["a", "b", "c"])
        #expect(try checkpoint.floats("b") == [2])
        #expect(try checkpoint.floats("c") == [1])
        var buffer: [Float] = [0]
        try buffer.withUnsafeMutableBufferPointer { output throws(SafetensorsError) in try checkpoint.decode("b", into: output) }
        #expect(buffer == [2])
        #expect(checkpoint.configJSON["hidden_size"]?.intValue == 576)
        #expect(checkpoint.configJSON["tie_word_embeddings"]?.boolValue == true)
        #expect(checkpoint.configJSON["rope_scaling"]?["rope_type"]?.stringValue == "llama3")
        #expect(checkpoint.configJSON["architectures"]?[0]?.stringValue == "LlamaForCausalLM")
        #expect(throws: SafetensorsError.tensorNotFound(file: directory.path, tensor: "d")) { try checkpoint.floats("d") }
    }

    @Test func singleFileWinsOverIndex() throws {
        try writeText(config, "config.json")
        try writeShard("model.safetensors", ["x"])
        try writeIndex([("a", "absent.safetensors")])
        #expect(try SafetensorsCheckpoint(directory: directory).tensors.map(\.name) == ["x"])
    }

    @Test func missingConfig() throws {
        try writeShard("model.safetensors", ["x"])
        #expect(openError() == .missingConfig(directory: directory.path))
    }

    @Test(arguments: ["[1]", "{\"a\": 1", ""])
    func invalidConfig(text: String) throws {
        try writeText(text, "config.json")
        try writeShard("model.safetensors", ["x"])
        let error = try #require(openError())
        guard case .invalidConfig = error else { Issue.record("got \(error)"); return }
    }

    @Test func missingWeights() throws {
        try writeText(config, "config.json")
        #expect(openError() == .missingWeights(directory: directory.path))
    }

    @Test(arguments: ["{\"metadata\": {}}", "{\"weight_map\": {\"a\": 3}}", "{\"weight_map\": {\"a\": \"../model.safetensors\"}}", "nope"])
    func invalidIndex(text: String) throws {
        try writeText(config, "config.json")
        try writeText(text, SafetensorsCheckpoint.indexFileName)
        let error = try #require(openError())
        guard case .invalidIndex(indexPath, _) = error else { Issue.record("got \(error)"); return }
    }

    @Test func indexNamesMissingShard() throws {
        try writeText(config, "config.json")
        try writeShard("s1.safetensors", ["a"])
        try writeIndex([("a", "s1.safetensors"), ("b", "s2.safetensors")])
        #expect(openError() == .missingShard(index: indexPath, shard: "s2.safetensors", tensor: "b"))
    }

    @Test func tensorListedButAbsent() throws {
        try writeText(config, "config.json")
        try writeShard("s1.safetensors", ["a"])
        try writeIndex([("a", "s1.safetensors"), ("b", "s1.safetensors")])
        #expect(openError() == .tensorMissingFromShard(index: indexPath, tensor: "b", shard: "s1.safetensors"))
    }

    @Test func tensorStoredInAnotherShard() throws {
        try writeText(config, "config.json")
        try writeShard("s1.safetensors", ["a"])
        try writeShard("s2.safetensors", ["b"])
        try writeIndex([("a", "s1.safetensors"), ("b", "s1.safetensors"), ("c", "s2.safetensors")])
        #expect(openError() == .tensorInWrongShard(index: indexPath, tensor: "b", listedShard: "s1.safetensors",
                                                  actualShard: "s2.safetensors"))
    }

    @Test func tensorInBothShards() throws {
        try writeText(config, "config.json")
        try writeShard("s1.safetensors", ["a", "b"])
        try writeShard("s2.safetensors", ["b"])
        try writeIndex([("a", "s1.safetensors"), ("b", "s2.safetensors")])
        #expect(openError() == .duplicateAcrossShards(tensor: "b", firstShard: "s1.safetensors", secondShard: "s2.safetensors"))
    }

    @Test func shardTensorMissingFromIndex() throws {
        try writeText(config, "config.json")
        try writeShard("s1.safetensors", ["a", "extra"])
        try writeIndex([("a", "s1.safetensors")])
        #expect(openError() == .tensorNotInIndex(index: indexPath, tensor: "extra", shard: "s1.safetensors"))
    }

    @Test func corruptShardReportsTheShard() throws {
        try writeText(config, "config.json")
        try writeText("garbage", "s1.safetensors")
        try writeIndex([("a", "s1.safetensors")])
        let error = try #require(openError())
        #expect(error.description.contains("s1.safetensors"))
    }
}
