import Foundation
import Sparse
import Testing
import TensorCore
import TensorIO
import Transformer
import _TestSupport

/// A two-block llama small enough to write in milliseconds, stored as a dense Hugging Face
/// directory: hidden 20 (mask rows of 3 bytes, the last one half used), intermediate 36, about
/// 70% zeros in the block linears, a few zeros elsewhere.
enum TinySparseModel {
    static let configuration = ModelConfiguration(
        architecture: .llama, layerCount: 2, hiddenSize: 20, intermediateSize: 36, headCount: 2, keyValueHeadCount: 1,
        headDimension: 10, vocabularySize: 40, rmsNormEpsilon: 1e-5, ropeTheta: 10_000, contextLength: 64, tiedEmbeddings: true)

    /// Writes the dense model (of `configuration`'s shapes) into `directory` and opens it.
    static func dense(in directory: URL, configuration c: ModelConfiguration = configuration) throws -> Checkpoint {
        var generator = SeededGenerator(seed: 17)
        var plan = [TensorInfo](), values = [String: [Float]]()
        for role in TensorRole.allCases where role.isPresent(in: c) {
            for block in role.isPerBlock ? Array(0..<c.layerCount) : [0] {
                let info = TensorInfo(name: role.huggingFaceName(block: block), dtype: .f32, shape: role.shape(c))
                let zeroFraction: Float = TensorRole.linears.contains(role) ? 0.7 : 0.05
                // The rest spans many exponents; zeros are +0 and -0.
                values[info.name] = generator.uniform(count: info.elementCount, scale: 3).map { w in
                    abs(w) / 3 > zeroFraction ? w * w * w / 7 : (w < 0 ? -0.0 : 0)
                }
                plan.append(info)
            }
        }
        try SafetensorsWriter.writeCheckpoint(plan, to: directory, maxShardBytes: 1 << 30,
                                              config: HuggingFaceExport.config(c, dtype: .f32)) { values[$0.name] ?? [] }
        return try Checkpoint.openSafetensors(directory)
    }
}

// MARK: Editing an export in place (damaged files)

/// Rewrites a sparse export's `model.safetensors` (in `url`), letting `change` replace (or drop,
/// with nil) any tensor's dtype, shape and bytes.
private func rewrite(_ url: URL, _ change: (SafetensorsWriter.Entry, [UInt8]) -> (SafetensorsWriter.Entry, [UInt8])?) throws -> String {
    let path = url.appendingPathComponent("model.safetensors")
    let file = try SafetensorsFile(url: path)
    var tensors: [(SafetensorsWriter.Entry, [UInt8])] = []
    for entry in file.entries {
        let original = SafetensorsWriter.Entry(name: entry.name, dtype: entry.dtype, shape: entry.shape)
        if let changed = change(original, try file.storedBytes(entry.name, as: entry.dtype)) { tensors.append(changed) }
    }
    let bytes = Dictionary(tensors.map { ($0.0.name, $0.1) }, uniquingKeysWith: { a, _ in a })
    try SafetensorsWriter.write(entries: tensors.map(\.0), metadata: file.metadata, to: path) { bytes[$0.name] ?? [] }
    return path.path
}

/// Edits `config.json`'s `quantization_config` in place.
private func editConfig(_ url: URL, _ edit: (inout JSONObject) -> Void) throws -> String {
    let path = url.appendingPathComponent("config.json")
    var root = try #require(try JSONValue.parse(Array(try Data(contentsOf: path))).objectValue)
    if var q = root["quantization_config"]?.objectValue {
        edit(&q)
        root["quantization_config"] = .object(q)
    }
    try Data(JSONValue.object(root).serialized(pretty: true).utf8).write(to: path)
    return path.path
}

/// The sparse export (`sparse/`) and reading it back: every weight is the source's rounded to the
/// value type, bit for bit; the stored tensors are named and typed as compressed-tensors writes
/// them; damaged files are typed errors naming the file and tensor.
@Suite final class SparseExportTests {
    let directory: URL

    init() throws { directory = try SafetensorsTestFiles.temporaryDirectory("sparse-export") }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// A dense tiny model and its sparse export in `valueType`.
    func export(_ valueType: SparseValueType = .bf16) throws -> (dense: Checkpoint, sparse: URL) {
        let dense = try TinySparseModel.dense(in: directory.appendingPathComponent("hf"))
        let sparse = directory.appendingPathComponent("sparse")
        try SparseExport.write(dense, to: sparse, valueType: WeightType(valueType))
        return (dense, sparse)
    }

    static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    @Test(arguments: SparseValueType.allCases)
    func weightsAreTheSourceRoundedBitForBit(_ valueType: SparseValueType) throws {
        let (dense, url) = try export(valueType)
        let sparse = try Checkpoint.open(url.path)
        let c = TinySparseModel.configuration
        #expect(sparse.isSparse && !dense.isSparse && sparse.format == .safetensors && sparse.rotaryConvention == .halfSplit)
        #expect(sparse.configuration.hiddenSize == c.hiddenSize && sparse.configuration.layerCount == c.layerCount)
        #expect(ModelSummary(sparse).sparseBitmaskWeights == 14 && ModelSummary(dense).sparseBitmaskWeights == nil)
        #expect(ModelSummary(sparse).parameterCount == ModelSummary(dense).parameterCount)
        for role in TensorRole.allCases where role.isPresent(in: c) {
            for block in role.isPerBlock ? Array(0..<c.layerCount) : [0] {
                let source = try dense.tensor(role, block: block)
                let read = try sparse.tensor(role, block: block)
                // A compressed weight stores no sign for a zero: -0 reads back as +0.
                let compressed = TensorRole.linears.contains(role)
                let expected = compressed ? source.map { $0 == 0 ? 0 : $0 } : source
                #expect(Self.bits(read) == Self.bits(expected.map(valueType.rounded)), "\(role) \(block)")
                if valueType == .f32 { #expect(Self.bits(read) == Self.bits(expected), "\(role) \(block) f32 is exact") }
                guard compressed else { continue }
                let matrix = try #require(try sparse.sparseLinear(role, block: block))
                let shape = role.shape(c)
                #expect(matrix == SparseMatrix(Matrix(rows: shape[0], columns: shape[1], storage: source), valueType: valueType),
                        "\(role) \(block)")
                #expect(try dense.sparseLinear(role, block: block) == nil)
            }
        }
        // The blocks decode as the dense checkpoint's, rounded.
        let a = try sparse.block(1), b = try dense.block(1)
        #expect(Self.bits(a.down.storage) == Self.bits(b.down.storage.map { $0 == 0 ? 0 : valueType.rounded($0) }))
    }

    /// Names, dtypes and shapes as compressed-tensors 0.14's BitmaskCompressor writes them, and
    /// the quantization_config of its ModelCompressor.update_config.
    @Test func storedLikeCompressedTensors() throws {
        let (dense, url) = try export(.bf16)
        let file = try SafetensorsFile(url: url.appendingPathComponent("model.safetensors"))
        let q = "model.layers.0.self_attn.q_proj"
        #expect(file.entry("\(q).bitmask").map { [$0.dtype.rawValue] + $0.shape.map(String.init) } == ["U8", "20", "3"])
        #expect(file.entry("\(q).row_offsets").map { [$0.dtype.rawValue] + $0.shape.map(String.init) } == ["I64", "20"])
        #expect(file.entry("\(q).shape").map { [$0.dtype.rawValue] + $0.shape.map(String.init) } == ["I64", "2"])
        #expect(try file.int64s("\(q).shape") == [20, 20])
        let nonZeros = try dense.tensor(.query, block: 0).filter { $0 != 0 }.count
        #expect(file.entry("\(q).compressed").map { [$0.dtype.rawValue] + $0.shape.map(String.init) } == ["BF16", "\(nonZeros)"])
        #expect(!file.contains("\(q).weight"))
        #expect(file.entry("model.embed_tokens.weight")?.dtype == .bf16 && file.entry("model.norm.weight")?.shape == [20])
        #expect(!file.contains("lm_head.weight"), "a tied head is not stored")
        #expect(file.entries.count == 2 * 7 * 4 + 2 * 2 + 2)
        #expect(file.metadata["format"] == "pt")

        let config = try JSONValue.parse(Array(try Data(contentsOf: url.appendingPathComponent("config.json"))))
        let qc = try #require(config["quantization_config"])
        #expect(qc["quant_method"]?.stringValue == "compressed-tensors" && qc["version"]?.stringValue == "0.14.0.1")
        #expect(qc["format"] == nil, "a top-level format would make compressed-tensors expect a quantization scheme")
        #expect(qc["transform_config"]?.objectValue?.isEmpty == true)
        let s = try #require(qc["sparsity_config"])
        #expect(s["format"]?.stringValue == "sparse-bitmask" && s["sparsity_structure"]?.stringValue == "unstructured")
        #expect(s["targets"] == .array([.string("Linear")]) && s["ignore"] == .array([.string("lm_head")]))
        var zeros = 0, total = 0
        for role in TensorRole.allCases where role.isPresent(in: TinySparseModel.configuration) {
            for block in role.isPerBlock ? [0, 1] : [0] {
                let values = try dense.tensor(role, block: block)
                zeros += values.filter { $0 == 0 }.count
                total += values.count
            }
        }
        #expect(abs((s["global_sparsity"]?.doubleValue ?? -1) - Double(zeros) / Double(total)) < 1e-12)
        #expect(config["torch_dtype"]?.stringValue == "bfloat16" && config["hidden_size"]?.intValue == 20)
    }

    // MARK: Damaged files

    static let q = "model.layers.0.self_attn.q_proj"

    @Test func unknownFormatNamesConfigAndSupported() throws {
        let (_, url) = try export()
        let path = try editConfig(url) { q in
            guard var s = q["sparsity_config"]?.objectValue else { return }
            s["format"] = .string("sparse-24-bitmask")
            q["sparsity_config"] = .object(s)
        }
        #expect(throws: SparseCheckpointError.unsupportedCompression(file: path, key: "quantization_config.sparsity_config.format",
                                                                     value: "sparse-24-bitmask", supported: ["sparse-bitmask"])) {
            try Checkpoint.open(url.path)
        }
        _ = try editConfig(url) { $0["quant_method"] = .string("gptq") }
        do {
            _ = try Checkpoint.open(url.path)
            Issue.record("a gptq quantization_config opened")
        } catch let error as SparseCheckpointError {
            guard case let .unsupportedCompression(file, key, value, supported) = error else { Issue.record("\(error)"); return }
            #expect(file == path && key == "quantization_config.quant_method" && value == "gptq")
            #expect(supported.joined().contains("compressed-tensors") && "\(error)".contains("sparse-bitmask"))
        }
    }

    /// A bit set in row 2 that row_offsets do not count: found when the matrix is read.
    @Test func bitmaskPopcountDisagreeingWithRowOffsets() throws {
        let (dense, url) = try export()
        let weights = try dense.tensor(.query, block: 0)
        // The first zero weight of row 2 gets its bit set.
        let column = try #require((0..<20).first { weights[2 * 20 + $0] == 0 })
        let path = try rewrite(url) { entry, bytes in
            guard entry.name == Self.q + ".bitmask" else { return (entry, bytes) }
            var mask = bytes
            mask[2 * 3 + column / 8] |= 1 << UInt8(column % 8)
            return (entry, mask)
        }
        let sparse = try Checkpoint.open(url.path)
        #expect(throws: SparseCheckpointError.self) { try sparse.sparseLinear(.query, block: 0) }
        do {
            _ = try sparse.block(0)
            Issue.record("a damaged bitmask decoded")
        } catch let error as SparseCheckpointError {
            guard case let .damaged(file, .rowOffsets(tensor, row, _)) = error else { Issue.record("\(error)"); return }
            #expect(file == path && tensor == Self.q && row == 3, "\(error)")
        }
        #expect(try sparse.sparseLinear(.key, block: 0) != nil, "the other weights still read")
    }

    /// One value more than the bitmask has bits.
    @Test func valueCountDisagreeingWithBitmask() throws {
        let (dense, url) = try export()
        let nonZeros = try dense.tensor(.query, block: 0).filter { $0 != 0 }.count
        let lastRowCount = try dense.tensor(.query, block: 0).suffix(20).filter { $0 != 0 }.count
        try #require(lastRowCount < 20)
        let path = try rewrite(url) { entry, bytes in
            guard entry.name == Self.q + ".compressed" else { return (entry, bytes) }
            return (.init(name: entry.name, dtype: entry.dtype, shape: [nonZeros + 1]), bytes + [0x80, 0x3F])
        }
        let sparse = try Checkpoint.open(url.path)
        #expect(throws: SparseCheckpointError.damaged(file: path, error: .valueCount(tensor: Self.q, expected: nonZeros, actual: nonZeros + 1))) {
            try sparse.sparseLinear(.query, block: 0)
        }
    }

    /// `X.shape` that disagrees with the bitmask's shape, and one that agrees with it but not with
    /// the configuration.
    @Test func shapeDisagreeingWithBitmaskOrRole() throws {
        let (_, url) = try export()
        func withShape(_ shape: [Int64]) throws -> String {
            try rewrite(url) { entry, bytes in
                entry.name == Self.q + ".shape" ? (entry, SafetensorsWriter.bytes(shape)) : (entry, bytes)
            }
        }
        var path = try withShape([20, 30])
        #expect(throws: SparseCheckpointError.shapeDisagrees(
            file: path, tensor: Self.q + ".bitmask",
            detail: "has shape [20, 3]; \(Self.q).shape [20, 30] needs [20, 4] (rows, ⌈columns/8⌉)")) {
            try Checkpoint.open(url.path)
        }
        path = try withShape([21, 20])
        #expect(throws: SparseCheckpointError.self) { try Checkpoint.open(url.path) }
        path = try withShape([20, 17])
        #expect(throws: ModelError.shapeMismatch(name: Self.q + ".shape", expected: [20, 20], actual: [20, 17], origin: path)) {
            try Checkpoint.open(url.path)
        }
    }

    @Test func rowOffsetsOutOfRange() throws {
        let (dense, url) = try export()
        let nonZeros = try dense.tensor(.query, block: 0).filter { $0 != 0 }.count
        func withOffset(row: Int, _ value: Int64) throws -> String {
            try rewrite(url) { entry, bytes in
                guard entry.name == Self.q + ".row_offsets" else { return (entry, bytes) }
                var copy = bytes
                withUnsafeBytes(of: value.littleEndian) { for (i, b) in $0.enumerated() { copy[row * 8 + i] = b } }
                return (entry, copy)
            }
        }
        var path = try withOffset(row: 19, Int64(nonZeros + 1))
        #expect(throws: SparseCheckpointError.rowOffsetsOutOfRange(
            file: path, tensor: Self.q + ".row_offsets", row: 19, detail: "offset \(nonZeros + 1) is outside 0...\(nonZeros) (the number of stored values)")) {
            try Checkpoint.open(url.path)
        }
        path = try withOffset(row: 0, 1)
        #expect(throws: SparseCheckpointError.rowOffsetsOutOfRange(
            file: path, tensor: Self.q + ".row_offsets", row: 0, detail: "offset 1; the first row starts at 0")) {
            try Checkpoint.open(url.path)
        }
        path = try withOffset(row: 5, -3)
        #expect(throws: SparseCheckpointError.self) { try Checkpoint.open(url.path) }
    }

    @Test func missingPartOrWrongDTypeIsNamed() throws {
        let (_, url) = try export()
        var path = try rewrite(url) { entry, bytes in entry.name == Self.q + ".row_offsets" ? nil : (entry, bytes) }
        #expect(throws: SparseCheckpointError.incompleteTensor(
            file: path, tensor: Self.q,
            detail: "has \(Self.q).shape, \(Self.q).compressed, \(Self.q).bitmask but no \(Self.q).row_offsets")) {
            try Checkpoint.open(url.path)
        }
        _ = try export()
        path = try rewrite(url) { entry, bytes in
            entry.name == Self.q + ".bitmask" ? (.init(name: entry.name, dtype: .i8, shape: entry.shape), bytes) : (entry, bytes)
        }
        #expect(throws: SafetensorsError.dtypeMismatch(file: path, tensor: Self.q + ".bitmask", expected: "U8", actual: "I8")) {
            try Checkpoint.open(url.path)
        }
        _ = try export()
        path = try rewrite(url) { entry, bytes in
            entry.name == Self.q + ".compressed" ? (.init(name: entry.name, dtype: .f64, shape: entry.shape), bytes + bytes + bytes + bytes) : (entry, bytes)
        }
        #expect(throws: SparseCheckpointError.unsupportedValueType(file: path, tensor: Self.q + ".compressed", dtype: "F64")) {
            try Checkpoint.open(url.path)
        }
    }

    /// A dense checkpoint holding bitmask parts (no quantization_config) fails the strict check.
    @Test func partsWithoutTheConfigAreUnexpectedTensors() throws {
        let (_, url) = try export()
        let path = url.appendingPathComponent("config.json")
        var root = try #require(try JSONValue.parse(Array(try Data(contentsOf: path))).objectValue)
        root["quantization_config"] = nil
        try Data(JSONValue.object(root).serialized(pretty: true).utf8).write(to: path)
        #expect(throws: ModelError.self) { try Checkpoint.open(url.path) }
    }
}

/// The sparse export of the real SmolLM2-135M (GGUF llama: q/k rows un-permuted, Q8_0 embedding
/// dequantized), two blocks pruned to 70% by magnitude per row: read back through
/// `Checkpoint.open`, every block linear is the Hugging Face-ordered source rounded to bf16, and
/// `sparseLinear` is the `SparseMatrix` of it.
@Suite struct SparseExportRealModelTests {
    static let smol = TestAssets.model("smollm2-135m")

    /// `w` with the smallest 70% of each row's |w| set to zero.
    static func pruned(_ w: Matrix) -> Matrix {
        var out = w
        let k = w.columns * 7 / 10
        for r in 0..<w.rows {
            let row = Array(w.storage[(r * w.columns)..<((r + 1) * w.columns)])
            for c in row.indices.sorted(by: { abs(row[$0]) < abs(row[$1]) }).prefix(k) { out.storage[r * w.columns + c] = 0 }
        }
        return out
    }

    @Test(.enabled(if: TestAssets.has(smol)))
    func prunedBlocksRoundTrip() throws {
        let gguf = try Checkpoint.openGGUF(Self.smol)
        let directory = try SafetensorsTestFiles.temporaryDirectory("sparse-smol")
        defer { try? FileManager.default.removeItem(at: directory) }
        let weights: @Sendable (Int) throws -> BlockWeights = { block in
            var w = try gguf.block(block)
            for role in TensorRole.linears { w[linear: role] = Self.pruned(w[linear: role]) }
            return w
        }
        try SparseExport.write(gguf, to: directory, blockCount: 2, weights: weights)
        let sparse = try Checkpoint.open(directory.path)
        let c = gguf.configuration
        #expect(sparse.isSparse && sparse.configuration.layerCount == 2 && sparse.configuration.vocabularySize == c.vocabularySize)
        for block in 0..<2 {
            let source = try weights(block)
            for role in TensorRole.linears {
                var expected = source[linear: role]
                if role == .query || role == .key {
                    expected.storage = QKRowPermutation.toHuggingFace(expected.storage, heads: role == .query ? c.headCount : c.keyValueHeadCount,
                                                                      columns: expected.columns)
                }
                let matrix = try #require(try sparse.sparseLinear(role, block: block))
                #expect(matrix == SparseMatrix(expected, valueType: .bf16), "block \(block) \(role)")
                #expect(abs(matrix.sparsity - 0.7) < 0.01, "block \(block) \(role): \(matrix.sparsity)")
                let dense = try sparse.tensor(role, block: block)
                #expect(dense.map(\.bitPattern) == expected.storage.map { SparseValueType.bf16.rounded($0).bitPattern }, "block \(block) \(role)")
            }
        }
        #expect(try sparse.tensor(.tokenEmbedding).map(\.bitPattern) == (try gguf.tensor(.tokenEmbedding)).map { SparseValueType.bf16.rounded($0).bitPattern })
    }
}

/// The sparse export with quantized values (`--sparse-dtype q8_0|q4_0`): each block linear's
/// weights are ggml's round-to-nearest blocks, stored as compressed-tensors writes an
/// int-quantized model compressed with the bitmask (I8 codes of the non-zeros, an F32 scale per 32
/// inputs); read back as the same blocks byte for byte and as their values; damaged or foreign
/// schemes are typed errors.
@Suite final class QuantizedSparseExportTests {
    let directory: URL

    init() throws { directory = try SafetensorsTestFiles.temporaryDirectory("quantized-sparse-export") }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// Rows of whole 32-input groups: hidden 64, FFN 96.
    static let configuration = ModelConfiguration(
        architecture: .llama, layerCount: 2, hiddenSize: 64, intermediateSize: 96, headCount: 2, keyValueHeadCount: 1,
        headDimension: 32, vocabularySize: 40, rmsNormEpsilon: 1e-5, ropeTheta: 10_000, contextLength: 64, tiedEmbeddings: true)

    func export(_ type: QuantizedType) throws -> (dense: Checkpoint, sparse: URL) {
        let dense = try TinySparseModel.dense(in: directory.appendingPathComponent("hf"), configuration: Self.configuration)
        let sparse = directory.appendingPathComponent("sparse-\(type)")
        try SparseExport.write(dense, to: sparse, valueType: WeightType(type))
        return (dense, sparse)
    }

    @Test(arguments: [QuantizedType.q8_0, .q4_0])
    func blocksAndValuesAreGGMLsRoundToNearest(_ type: QuantizedType) throws {
        let (dense, url) = try export(type)
        let sparse = try Checkpoint.open(url.path)
        let source = try #require(sparse.source as? SparseBitmaskSource)
        #expect(sparse.isSparse && source.quantized == type)
        let c = Self.configuration
        for role in TensorRole.allCases where role.isPresent(in: c) {
            for block in role.isPerBlock ? [0, 1] : [0] {
                let weights = try dense.tensor(role, block: block)
                let read = try sparse.tensor(role, block: block)
                guard TensorRole.linears.contains(role) else {
                    #expect(read.map(\.bitPattern) == weights.map { SparseValueType.bf16.rounded($0).bitPattern }, "\(role)")
                    continue
                }
                let blocks = quantize(weights, as: type.dtype)
                var expected = [Float](repeating: 0, count: weights.count)
                blocks.withUnsafeBytes { dequantize(type.dtype, bytes: $0, count: weights.count, into: &expected) }
                #expect(read.map(\.bitPattern) == expected.map { ($0 == 0 ? 0 : $0).bitPattern }, "\(role) \(block): code × scale")
                let stored = try #require(try source.quantizedBlocks(role.huggingFaceName(block: block)))
                #expect(stored.type == type && stored.blocks == blocks, "\(role) \(block): the blocks byte for byte")
                // As a float bitmask matrix: the mask is the non-zero codes.
                let matrix = try #require(try sparse.sparseLinear(role, block: block))
                #expect(matrix.nonZeroCount == expected.filter { $0 != 0 }.count)
            }
        }
        let file = try SafetensorsFile(url: url.appendingPathComponent("model.safetensors"))
        let q = "model.layers.0.self_attn.q_proj"
        #expect(file.entry("\(q).compressed")?.dtype == .i8)
        #expect(file.entry("\(q).weight_scale").map { [$0.dtype.rawValue] + $0.shape.map(String.init) } == ["F32", "64", "2"])
        #expect(file.entry("model.embed_tokens.weight")?.dtype == .bf16)
        #expect(file.entries.count == 2 * 7 * 5 + 2 * 2 + 2)
        let config = try JSONValue.parse(Array(try Data(contentsOf: url.appendingPathComponent("config.json"))))
        let qc = try #require(config["quantization_config"])
        #expect(qc["format"]?.stringValue == "int-quantized" && qc["quantization_status"]?.stringValue == "compressed")
        let weights = try #require(qc["config_groups"]?["group_0"]?["weights"])
        #expect(weights["num_bits"]?.intValue == (type == .q8_0 ? 8 : 4) && weights["group_size"]?.intValue == 32)
        #expect(weights["symmetric"]?.boolValue == true && weights["strategy"]?.stringValue == "group")
        #expect(qc["sparsity_config"]?["format"]?.stringValue == "sparse-bitmask")
        #expect(config["torch_dtype"]?.stringValue == "float32")
        #expect(ModelSummary(sparse).sparseBitmaskWeights == 14)
    }

    /// Rows of 20 inputs hold no 32-input group: refused, naming the tensor and the float types.
    @Test func rowsWithoutWholeGroupsAreRefused() throws {
        let dense = try TinySparseModel.dense(in: directory.appendingPathComponent("hf20"))
        do {
            try SparseExport.write(dense, to: directory.appendingPathComponent("q"), valueType: .q4_0)
            Issue.record("20-input rows were exported as q4_0")
        } catch let error as ModelError {
            #expect("\(error)".contains("q_proj") && "\(error)".contains("f32, f16 or bf16"), "\(error)")
        }
    }

    static let q = "model.layers.0.self_attn.q_proj"

    /// A stored code 0 (the bitmask marks non-zero codes) or one off the 4-bit grid is damage in
    /// that row; a missing scale tensor is named; a scale that is no f16 value still decodes but
    /// gives no ggml blocks.
    @Test func damagedCodesAndScales() throws {
        let (_, url) = try export(.q4_0)
        _ = try rewrite(url) { entry, bytes in
            guard entry.name == Self.q + ".compressed" else { return (entry, bytes) }
            var b = bytes
            b[0] = 0
            return (entry, b)
        }
        do {
            _ = try Checkpoint.open(url.path).tensor(.query, block: 0)
            Issue.record("a zero code was read")
        } catch let error as SparseCheckpointError {
            guard case let .damaged(_, .rowOffsets(tensor, row, detail)) = error else { Issue.record("\(error)"); return }
            #expect(tensor == Self.q && row == 0 && detail.contains("code 0"), "\(error)")
        }
        _ = try rewrite(url) { entry, bytes in
            guard entry.name == Self.q + ".compressed" else { return (entry, bytes) }
            var b = bytes
            b[0] = UInt8(bitPattern: 9)
            return (entry, b)
        }
        #expect(throws: SparseCheckpointError.self) { try Checkpoint.open(url.path).tensor(.query, block: 0) }

        let (_, fresh) = try export(.q4_0)
        _ = try rewrite(fresh) { entry, bytes in
            guard entry.name == Self.q + ".weight_scale" else { return (entry, bytes) }
            var scales = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            scales[0] = 0.1   // not an f16 value
            return (entry, scales.withUnsafeBytes { Array($0) })
        }
        let opened = try Checkpoint.open(fresh.path)
        let source = try #require(opened.source as? SparseBitmaskSource)
        #expect(try source.quantizedBlocks(Self.q + ".weight") == nil)
        #expect(try source.quantizedBlocks("model.layers.0.self_attn.k_proj.weight") != nil)
        #expect(try opened.tensor(.query, block: 0).count == 64 * 64)

        _ = try rewrite(fresh) { entry, bytes in entry.name == Self.q + ".weight_scale" ? nil : (entry, bytes) }
        do {
            _ = try Checkpoint.open(fresh.path)
            Issue.record("codes without scales opened")
        } catch let error as SparseCheckpointError {
            guard case let .incompleteTensor(_, tensor, detail) = error else { Issue.record("\(error)"); return }
            #expect(tensor == Self.q && detail.contains("weight_scale"), "\(error)")
        }
    }

    /// Quantization schemes other than dlp's are refused, naming the key.
    @Test(arguments: [
        ("num_bits", JSONValue.integer(3), "quantization_config.config_groups.group_0.weights.num_bits"),
        ("symmetric", .bool(false), "quantization_config.config_groups.group_0.weights.symmetric"),
        ("group_size", .integer(128), "quantization_config.config_groups.group_0.weights.group_size"),
        ("strategy", .string("channel"), "quantization_config.config_groups.group_0.weights.strategy"),
        ("type", .string("float"), "quantization_config.config_groups.group_0.weights.type"),
    ])
    func foreignSchemesNameTheKey(field: String, value: JSONValue, key: String) throws {
        let (_, url) = try export(.q8_0)
        _ = try editConfig(url) { qc in
            guard var groups = qc["config_groups"]?.objectValue, var group = groups["group_0"]?.objectValue,
                  var weights = group["weights"]?.objectValue else { return }
            weights[field] = value
            group["weights"] = .object(weights)
            groups["group_0"] = .object(group)
            qc["config_groups"] = .object(groups)
        }
        do {
            _ = try Checkpoint.open(url.path)
            Issue.record("\(field) \(value) opened")
        } catch let error as SparseCheckpointError {
            guard case let .unsupportedCompression(_, badKey, _, _) = error else { Issue.record("\(error)"); return }
            #expect(badKey == key)
        }
    }
}
