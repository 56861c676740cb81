import Foundation
import Testing
import TensorCore
import TensorIO
import _TestSupport

/// Writing single files and sharded checkpoints, read back through `SafetensorsFile` and
/// `SafetensorsCheckpoint`, and compared byte for byte with the reference writer's output.
@Suite final class SafetensorsWriterTests {
    let directory: URL

    init() throws { directory = try SafetensorsTestFiles.temporaryDirectory("writer") }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// Tensors of every writable float dtype with seeded values, sizes not multiples of 8.
    private func sampleTensors() -> [SafetensorsWriter.Tensor] {
        var generator = SeededGenerator(seed: 42)
        return [
            .init(name: "model.norm.weight", dtype: .bf16, shape: [13], values: generator.uniform(count: 13, scale: 3)),
            .init(name: "model.embed_tokens.weight", dtype: .f16, shape: [5, 7], values: generator.uniform(count: 35)),
            .init(name: "lm_head.weight", dtype: .f32, shape: [3, 9], values: generator.uniform(count: 27, scale: 100)),
            .init(name: "model.layers.0.scale", dtype: .f64, shape: [], values: [0.1]),
            .init(name: "model.layers.0.empty", dtype: .f16, shape: [0, 4], values: []),
        ]
    }

    /// What reading back must give: each value narrowed to its dtype (round to nearest even).
    private func stored(_ tensor: SafetensorsWriter.Tensor) -> [UInt32] {
        tensor.values.map { value in
            switch tensor.info.dtype {
            case .f16: return HalfConversion.float(fromHalf: HalfConversion.half(from: value)).bitPattern
            case .bf16: return HalfConversion.float(fromBFloat16: HalfConversion.bfloat16(from: value)).bitPattern
            default: return value.bitPattern
            }
        }
    }

    private func leftoverTemporaryFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".tmp") }
    }

    /// Bit patterns are compared: the writer must store exactly the rounded value.
    @Test func singleFileRoundTrips() throws {
        let url = directory.appendingPathComponent("model.safetensors")
        let tensors = sampleTensors()
        try SafetensorsWriter.write(tensors, metadata: ["note": "round trip"], to: url)
        let file = try SafetensorsFile(url: url)
        #expect(file.metadata == ["note": "round trip", "format": "pt"])
        #expect(Set(file.tensors.map(\.name)) == Set(tensors.map(\.info.name)))
        for tensor in tensors {
            #expect(file.info(tensor.info.name) == tensor.info)
            #expect(try file.floats(tensor.info.name).map(\.bitPattern) == stored(tensor), "\(tensor.info.name)")
        }
        #expect(try leftoverTemporaryFiles().isEmpty)
    }

    @Test func layoutIsPaddedAndAligned() throws {
        let url = directory.appendingPathComponent("aligned.safetensors")
        try SafetensorsWriter.write(sampleTensors(), to: url)
        let file = try SafetensorsFile(url: url)
        #expect((8 + file.headerLength) % 8 == 0)
        let bytes = try Data(contentsOf: url)
        #expect(bytes[8] == UInt8(ascii: "{"))
        let header = String(decoding: bytes[8..<(8 + file.headerLength)], as: UTF8.self)
        #expect(header.hasPrefix("{\"__metadata__\":{\"format\":\"pt\"},"))
        #expect(header.trimmingCharacters(in: .whitespaces).hasSuffix("}"))
        // Largest elements first, so each tensor starts at a multiple of its element size.
        #expect(file.entries.map(\.dtype) == [.f64, .f32, .bf16, .f16, .f16])
        for entry in file.entries { #expect(entry.dataOffsets.lowerBound % entry.dtype.elementSize == 0) }
    }

    /// The Python reference writer produced `tiny-floats.safetensors` from the same tensors;
    /// ours must write the same bytes (header text, padding, order and rounding).
    @Test func matchesReferenceWriterByteForByte() throws {
        let reference = try SafetensorsFile(url: TestAssets.fixture("safetensors/tiny-floats.safetensors"))
        let order = ["embed.f32", "scalar.f32", "norm.bf16", "empty.f16", "layer.f16"]
        let tensors = try order.map { name in
            let info = try #require(reference.info(name))
            return SafetensorsWriter.Tensor(info: info, values: try reference.floats(name))
        }
        let url = directory.appendingPathComponent("tiny-floats.safetensors")
        try SafetensorsWriter.write(tensors, to: url)
        #expect(try Data(contentsOf: url) == Data(contentsOf: TestAssets.fixture("safetensors/tiny-floats.safetensors")))
    }

    @Test func overwritesAtomically() throws {
        let url = directory.appendingPathComponent("model.safetensors")
        try SafetensorsWriter.write([.init(name: "a", dtype: .f32, shape: [1], values: [1])], to: url)
        try SafetensorsWriter.write([.init(name: "b", dtype: .f32, shape: [2], values: [2, 3])], to: url)
        #expect(try SafetensorsFile(url: url).tensors.map(\.name) == ["b"])
        #expect(try leftoverTemporaryFiles().isEmpty)
    }

    @Test func rejectsValuesThatDoNotFitTheShapeAndLeavesNothing() throws {
        let url = directory.appendingPathComponent("bad.safetensors")
        #expect(throws: SafetensorsError.invalidTensorForWriting(tensor: "w", detail: "3 values given for shape [2, 2] (4 elements)")) {
            try SafetensorsWriter.write([.init(name: "w", dtype: .f16, shape: [2, 2], values: [1, 2, 3])], to: url)
        }
        #expect(!FileManager.default.fileExists(atPath: url.path))
        #expect(try leftoverTemporaryFiles().isEmpty)
    }

    @Test(arguments: [
        [SafetensorsWriter.Tensor(name: "w", dtype: .q4_K, shape: [256], values: [Float](repeating: 0, count: 256))],
        [.init(name: "w", dtype: .f32, shape: [1], values: [0]), .init(name: "w", dtype: .f32, shape: [1], values: [0])],
        [.init(name: "__metadata__", dtype: .f32, shape: [1], values: [0])],
        [.init(name: "w", dtype: .f32, shape: [-1], values: [])],
    ])
    func rejectsInvalidPlans(tensors: [SafetensorsWriter.Tensor]) throws {
        let url = directory.appendingPathComponent("bad.safetensors")
        #expect(throws: SafetensorsError.self) { try SafetensorsWriter.write(tensors, to: url) }
        #expect(!FileManager.default.fileExists(atPath: url.path))
    }

    @Test func shardedCheckpointRoundTrips() throws {
        let tensors = sampleTensors()
        let config = try JSONValue.parse("{\"model_type\": \"llama\", \"hidden_size\": 7, \"rope_scaling\": null}")
        // At most 60 bytes per shard, greedily in order: [norm 26], [embed 70], [lm_head 108], [scale 8, empty 0].
        let written = try SafetensorsWriter.writeCheckpoint(tensors, to: directory, maxShardBytes: 60, config: config)
        #expect(written == [
            "config.json", "model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
            "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors", "model.safetensors.index.json",
        ])
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        #expect(checkpoint.files.count == 4)
        #expect(checkpoint.configJSON == config)
        #expect(checkpoint.configJSON["hidden_size"]?.intValue == 7)
        #expect(checkpoint.file(containing: "lm_head.weight")?.url.lastPathComponent == "model-00003-of-00004.safetensors")
        #expect(checkpoint.file(containing: "model.layers.0.empty")?.url.lastPathComponent == "model-00004-of-00004.safetensors")
        #expect(Set(checkpoint.tensors.map(\.name)) == Set(tensors.map(\.info.name)))
        for tensor in tensors {
            #expect(try checkpoint.floats(tensor.info.name).map(\.bitPattern) == stored(tensor), "\(tensor.info.name)")
        }
        let index = try JSONValue.parse(Array(Data(contentsOf: directory.appendingPathComponent("model.safetensors.index.json"))))
        #expect(index["metadata"]?["total_size"]?.intValue == 26 + 70 + 108 + 8)
        let mapped = index["weight_map"]?.objectValue?.keys ?? []
        #expect(mapped == mapped.sorted() && mapped.count == tensors.count)
        #expect(try leftoverTemporaryFiles().isEmpty)
    }

    @Test func smallCheckpointIsOneUnindexedFile() throws {
        let written = try SafetensorsWriter.writeCheckpoint(sampleTensors(), to: directory, maxShardBytes: 1 << 20,
                                                            config: .object(JSONObject()))
        #expect(written == ["config.json", "model.safetensors"])
        #expect(try SafetensorsCheckpoint(directory: directory).files.count == 1)
    }

    @Test func streamsValuesOneTensorAtATime() throws {
        let plan = (0..<4).map { TensorInfo(name: "t\($0)", dtype: .bf16, shape: [3, $0 + 1]) }
        var requested: [String] = []
        try SafetensorsWriter.write(plan, to: directory.appendingPathComponent("s.safetensors")) { info in
            requested.append(info.name)
            return [Float](repeating: Float(info.shape[1]), count: info.elementCount)
        }
        #expect(requested == ["t0", "t1", "t2", "t3"])
        let file = try SafetensorsFile(url: directory.appendingPathComponent("s.safetensors"))
        #expect(try file.floats("t2") == [Float](repeating: 3, count: 9))
    }

    @Test func shardNamesFollowHuggingFace() {
        #expect(SafetensorsWriter.shardFileName(2, of: 12) == "model-00002-of-00012.safetensors")
    }
}
