import Foundation
import Kernels
import TensorCore
import TensorIO
import Testing
import Training
import Transformer

/// The PEFT adapter format: written values read back bit for bit; on a GGUF llama the file holds
/// B of q/k in Hugging Face row order, so the file's `B·A` added to the Hugging Face weights
/// equals the merge on the GGUF weights un-permuted; broken files give typed errors that name the
/// file and key.
@Suite struct PEFTAdapterTests {
    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("peft-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Parameters with every value random (B non-zero), masked or not.
    static func parameters(_ setup: TinySetup, targets: [TensorRole] = TensorRole.linears, masked: Bool = false,
                           norms: Bool = false) -> TrainableParameters<Float> {
        var p = TrainableParameters<Float>(configuration: setup.configuration,
                                           lora: LoRAConfiguration(rank: 3, alpha: 5, dropout: 0.1, targets: targets, masked: masked,
                                                                   trainsNormGains: norms))
        var g = SeededGenerator(seed: 11)
        p.values = (0..<p.values.count).map { _ in g.nextSignedUnit() * 0.3 }
        return p
    }

    @Test(arguments: [TinySetup(convention: .interleaved, biases: false, tied: true, keyValueHeads: 2),
                      TinySetup(convention: .halfSplit, biases: true, tied: false, keyValueHeads: 2)], [false, true])
    func roundTripIsExact(_ setup: TinySetup, masked: Bool) throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let written = Self.parameters(setup, masked: masked, norms: masked)
        try PEFTAdapter.write(written, configuration: setup.configuration, convention: setup.convention, baseModel: "tiny", to: folder)
        let read = try PEFTAdapter.read(from: folder, configuration: setup.configuration, convention: setup.convention)
        #expect(read.parameters.lora == written.lora)
        #expect(read.parameters.entries == written.entries)
        #expect(read.parameters.values.map(\.bitPattern) == written.values.map(\.bitPattern))
        #expect(read.baseModel == "tiny" && read.maskSource == PEFTAdapter.dlpFileName && !read.usesRSLoRA)
        // The caller's choice overrides dlp_adapter.json.
        let forced = try PEFTAdapter.read(from: folder, configuration: setup.configuration, convention: setup.convention, masked: !masked)
        #expect(forced.parameters.lora.masked == !masked)

        let file = try SafetensorsFile(url: folder.appendingPathComponent(PEFTAdapter.weightsFileName))
        #expect(file.metadata["format"] == "pt")
        #expect(file.entries.allSatisfy { $0.dtype == .f32 })
        let config = try JSONValue.parse([UInt8](try Data(contentsOf: folder.appendingPathComponent(PEFTAdapter.configFileName))))
        #expect(config["peft_type"]?.stringValue == "LORA" && config["task_type"]?.stringValue == "CAUSAL_LM")
        #expect(config["r"]?.intValue == 3 && config["lora_alpha"]?.doubleValue == 5 && config["bias"]?.stringValue == "none")
        #expect(config["target_modules"]?.arrayValue?.compactMap(\.stringValue)
                == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
        #expect(file.entry("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight")?.shape == [3, 24])
        #expect(file.entry("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight")?.shape == [16, 3])
        #expect(file.entry("base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight")?.shape == [8, 3])
    }

    /// On a GGUF llama (q/k rows interleaved) the merge of the read adapter, un-permuted to Hugging
    /// Face order, equals the Hugging Face weight plus `s·B·A` from the file as peft computes it;
    /// on a half-split checkpoint the file's B is the trained B itself.
    @Test(arguments: [RotaryConvention.interleaved, .halfSplit])
    func fileHoldsHuggingFaceRowOrder(_ convention: RotaryConvention) throws {
        let setup = TinySetup(convention: convention, biases: false, tied: true, keyValueHeads: 2)
        let c = setup.configuration
        let weights = try TinyWeights(setup)
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let parameters = Self.parameters(setup)
        try PEFTAdapter.write(parameters, configuration: c, convention: convention, baseModel: "tiny", to: folder)
        let file = try SafetensorsFile(url: folder.appendingPathComponent(PEFTAdapter.weightsFileName))
        let scale = Float(parameters.lora.scale)
        for block in 0..<c.layerCount {
            let merged = parameters.merged(weights.blocks[block], block: block)
            for role in TensorRole.linears {
                let a = try file.floats(PEFTAdapter.key(block: block, role: role, matrix: "lora_A"))
                let b = try file.floats(PEFTAdapter.key(block: block, role: role, matrix: "lora_B"))
                let rows = role.shape(c)[0], columns = role.shape(c)[1], r = 3
                let heads = role == .query ? c.headCount : c.keyValueHeadCount
                let permuted = convention == .interleaved && (role == .query || role == .key)
                func hf(_ values: [Float]) -> [Float] {
                    permuted ? QKRowPermutation.toHuggingFace(values, heads: heads, columns: columns) : values
                }
                let base = hf(weights.blocks[block][linear: role].storage), after = hf(merged[linear: role].storage)
                var worst: Float = 0
                for i in 0..<rows {
                    for j in 0..<columns {
                        var update: Float = 0
                        for k in 0..<r { update += b[i * r + k] * a[k * columns + j] }
                        worst = max(worst, abs(after[i * columns + j] - (base[i * columns + j] + scale * update)))
                    }
                }
                #expect(worst < 1e-5, "block \(block) \(role): \(worst)")
                if !permuted {
                    #expect(b == Array(parameters.values[parameters.entry(.loraB(block: block, role: role)).range]))
                }
            }
        }
    }

    /// A broken adapter is a typed error naming the file and the key.
    @Test func brokenAdaptersGiveTypedErrors() throws {
        let setup = TinySetup(convention: .halfSplit, biases: false, tied: true, keyValueHeads: 2)
        let c = setup.configuration
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let parameters = Self.parameters(setup, targets: [.query, .value])
        let configURL = folder.appendingPathComponent(PEFTAdapter.configFileName)
        let weightsURL = folder.appendingPathComponent(PEFTAdapter.weightsFileName)
        func reset() throws {
            try PEFTAdapter.write(parameters, configuration: c, convention: setup.convention, baseModel: "tiny", to: folder)
        }
        func read() throws { _ = try PEFTAdapter.read(from: folder, configuration: c, convention: setup.convention) }
        func editConfig(_ edit: (inout String) -> Void) throws {
            var text = try String(contentsOf: configURL, encoding: .utf8)
            edit(&text)
            try Data(text.utf8).write(to: configURL)
        }
        func rewriteWeights(_ edit: (inout [SafetensorsWriter.Tensor]) -> Void) throws {
            let file = try SafetensorsFile(url: weightsURL)
            var tensors = try file.entries.map { SafetensorsWriter.Tensor(name: $0.name, dtype: .f32, shape: $0.shape, values: try file.floats($0.name)) }
            edit(&tensors)
            try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: weightsURL)
        }
        let qA = PEFTAdapter.key(block: 1, role: .query, matrix: "lora_A")

        try reset()
        try editConfig { $0 = $0.replacingOccurrences(of: "\"LORA\"", with: "\"IA3\"") }
        #expect(throws: AdapterError.invalidConfig(path: configURL.path, key: "peft_type", found: "\"IA3\"", expected: "\"LORA\"")) { try read() }

        try reset()
        try editConfig { $0 = $0.replacingOccurrences(of: "\"use_dora\": false", with: "\"use_dora\": true") }
        #expect { try read() } throws: { ($0 as? AdapterError).map { if case .unsupported(_, "use_dora", _, _) = $0 { true } else { false } } ?? false }

        try reset()
        try editConfig { $0 = $0.replacingOccurrences(of: "\"v_proj\"", with: "\"lm_head\"") }
        #expect { try read() } throws: { "\($0)".contains("\"lm_head\"") && "\($0)".contains(configURL.path) }

        try reset()
        try editConfig { $0 = $0.replacingOccurrences(of: "\"r\": 3", with: "\"r\": 0") }
        #expect { try read() } throws: { "\($0)".contains("\"r\" is 0, expected an integer ≥ 1") }

        try reset()
        try rewriteWeights { $0.removeAll { $0.info.name == qA } }
        #expect(throws: AdapterError.missingTensor(path: weightsURL.path, key: qA)) { try read() }

        try reset()
        try rewriteWeights { $0.append(.init(name: "base_model.model.lm_head.lora_A.weight", dtype: .f32, shape: [3, 16], values: .init(repeating: 0, count: 48))) }
        #expect(throws: AdapterError.unexpectedTensor(path: weightsURL.path, key: "base_model.model.lm_head.lora_A.weight")) { try read() }

        try reset()
        try rewriteWeights { tensors in
            let i = tensors.firstIndex { $0.info.name == qA }!
            tensors[i] = .init(name: qA, dtype: .f32, shape: [2, 16], values: .init(repeating: 0, count: 32))
        }
        #expect(throws: AdapterError.wrongShape(path: weightsURL.path, key: qA, expected: [3, 16], actual: [2, 16])) { try read() }

        try reset()
        try rewriteWeights { tensors in
            let i = tensors.firstIndex { $0.info.name == qA }!
            tensors[i].values[0] = .nan
        }
        #expect(throws: AdapterError.nonFinite(path: weightsURL.path, key: qA)) { try read() }

        try reset()
        try Data("{not json".utf8).write(to: configURL)
        #expect { try read() } throws: { if case .unreadable(configURL.path, _)? = $0 as? AdapterError { true } else { false } }

        let empty = folder.appendingPathComponent("empty")
        #expect { _ = try PEFTAdapter.read(from: empty, configuration: c, convention: setup.convention) } throws: {
            "\($0)".contains(empty.appendingPathComponent(PEFTAdapter.configFileName).path) && "\($0)".contains("no such file")
        }
    }

    /// peft's own spellings: `target_modules` as dotted paths or "all-linear", rsLoRA's α/√r, no
    /// `dlp_adapter.json` (unmasked).
    @Test func peftVariantsAreRead() throws {
        let setup = TinySetup(convention: .halfSplit, biases: false, tied: true, keyValueHeads: 2)
        let c = setup.configuration
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let parameters = Self.parameters(setup, masked: true)
        try PEFTAdapter.write(parameters, configuration: c, convention: setup.convention, baseModel: "tiny", to: folder)
        try FileManager.default.removeItem(at: folder.appendingPathComponent(PEFTAdapter.dlpFileName))
        let configURL = folder.appendingPathComponent(PEFTAdapter.configFileName)
        var text = try String(contentsOf: configURL, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"use_rslora\": false", with: "\"use_rslora\": true")
        let list = #/"target_modules": \[[^\]]*\]/#
        text = text.replacing(list, with: "\"target_modules\": \"all-linear\"")
        try Data(text.utf8).write(to: configURL)
        let read = try PEFTAdapter.read(from: folder, configuration: c, convention: setup.convention)
        #expect(!read.parameters.lora.masked && read.usesRSLoRA)
        #expect(read.parameters.lora.targets == TensorRole.linears)
        #expect(abs(read.parameters.lora.scale - 5 / Double(3).squareRoot()) < 1e-12)
    }
}
