// libFuzzer harnesses for every parser of untrusted input (built only by `make fuzz`, with
// DLP_FUZZ=1: `swift build --sanitize=fuzzer --sanitize=address`; see Fuzz/README.md). One binary;
// DLP_FUZZ_TARGET picks the parser. A harness may throw — a typed error is the right answer to
// bad input — but must not crash, hang or read out of bounds.
import Evaluation
import Experiments
import Foundation
import Sparse
import TensorIO
import Tokenization
import Transformer

/// Inputs larger than this are skipped (the parsers bound their own allocations; this keeps runs fast).
let maximumInput = 1 << 20
/// Tensors with more elements than this are not decoded.
let maximumElements = 1 << 16

let target = ProcessInfo.processInfo.environment["DLP_FUZZ_TARGET"] ?? ""
let targets = ["gguf", "safetensors", "json", "tokenizer-json", "sparse-matrix", "zeroshot-jsonl", "hf-config", "experiment-plan",
               "safetensors-index", "sparse-checkpoint"]
let scratch: URL = {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("dlp-fuzz-\(getpid())")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}()

/// The input as a file at a fixed path (the readers memory-map files).
func asFile(_ data: Data, name: String) -> URL {
    let url = scratch.appendingPathComponent(name)
    try? data.write(to: url)
    return url
}

func fuzzGGUF(_ data: Data) {
    guard let file = try? GGUFFile(url: asFile(data, name: "input.gguf")) else { return }
    for tensor in file.tensors.prefix(16) where tensor.elementCount <= maximumElements {
        _ = try? file.floats(tensor.name)
    }
    if let definition = try? TokenizerDefinition(metadata: file), let tokenizer = try? definition.makeTokenizer() {
        let ids = tokenizer.encode("Hello, world! 123 <|im_start|>ünïcödé", addSpecial: true)
        _ = tokenizer.decode(ids)
    }
}

func fuzzSafetensors(_ data: Data) {
    guard let file = try? SafetensorsFile(url: asFile(data, name: "model.safetensors")) else { return }
    for tensor in file.tensors.prefix(16) where tensor.elementCount <= maximumElements {
        _ = try? file.floats(tensor.name)
    }
}

func fuzzJSON(_ data: Data) {
    _ = try? JSONValue.parse([UInt8](data))
}

func fuzzTokenizerJSON(_ data: Data) {
    // The first line is text to encode with the tokenizer the rest defines.
    let split = data.firstIndex(of: 10) ?? data.startIndex
    let text = String(decoding: data[data.startIndex..<split], as: UTF8.self)
    guard let definition = try? TokenizerDefinition(tokenizerJSON: Data(data[split...])),
          let tokenizer = try? definition.makeTokenizer() else { return }
    _ = tokenizer.decode(tokenizer.encode(text, addSpecial: true))
}

/// Bytes 0–3: rows, columns (one byte each, small), value type, then mask, offsets and values
/// cut from the rest; a matrix that passes the checks must multiply the same with every kernel.
func fuzzSparseMatrix(_ data: Data) {
    let bytes = [UInt8](data)
    guard bytes.count >= 3 else { return }
    let rows = Int(bytes[0] % 17), columns = Int(bytes[1] % 70)
    let type = SparseValueType.allCases[Int(bytes[2]) % SparseValueType.allCases.count]
    var rest = Array(bytes.dropFirst(3))
    let maskCount = min(rest.count, rows * ((columns + 7) / 8))
    let mask = Array(rest.prefix(maskCount))
    rest.removeFirst(maskCount)
    var offsets = [Int64]()
    while offsets.count < rows, rest.count >= 2 {
        offsets.append(Int64(rest[0]) | Int64(rest[1]) << 8)
        rest.removeFirst(2)
    }
    guard let matrix = try? SparseMatrix(rows: rows, columns: columns, valueType: type, mask: mask, rowOffsets: offsets,
                                         values: rest, name: "fuzz") else { return }
    let x = (0..<columns).map { Float($0 % 7) - 3 }
    let reference = matrix.multiply(x, kernel: .reference)
    // Sums in another order differ by rounding relative to Σ|w·x|, not to the result.
    let dense = matrix.dense()
    let scale = (0..<rows).map { r in (0..<columns).reduce(Float(0)) { $0 + abs(dense[r, $1] * x[$1]) } }
    for kernel in SparseKernel.available(for: type) where kernel != .reference {
        let y = matrix.multiply(x, kernel: kernel)
        for r in 0..<rows where scale[r].isFinite && reference[r].isFinite {
            precondition(abs(y[r] - reference[r]) <= 1e-4 * scale[r] + 1e-30, "\(kernel) disagrees with the reference in row \(r)")
        }
    }
    _ = matrix.dense()
}

/// Byte 0 picks the task; the rest is its JSONL file.
func fuzzZeroShotJSONL(_ data: Data) {
    guard let first = data.first else { return }
    let task = ZeroShotTask.allCases[Int(first) % ZeroShotTask.allCases.count]
    let folder = scratch.appendingPathComponent("zeroshot")
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    try? Data(data.dropFirst()).write(to: ZeroShotDataset.url(for: task, in: folder))
    _ = try? ZeroShotDataset(task: task, directory: folder)
}

/// A `config.json` beside a small valid safetensors file: configuration reading, then the strict
/// tensor check (and, for a compressed-tensors config, the sparse-bitmask reader).
func fuzzHuggingFaceConfig(_ data: Data) {
    let folder = scratch.appendingPathComponent("hf")
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    try? data.write(to: folder.appendingPathComponent("config.json"))
    if !FileManager.default.fileExists(atPath: folder.appendingPathComponent("model.safetensors").path) {
        try? FileManager.default.copyItem(at: fixture("safetensors/tiny.safetensors"), to: folder.appendingPathComponent("model.safetensors"))
    }
    guard let checkpoint = try? Checkpoint.openSafetensors(folder) else { return }
    _ = try? checkpoint.block(0)
}

/// An experiment plan's JSON.
func fuzzExperimentPlan(_ data: Data) {
    guard let json = try? JSONValue.parse([UInt8](data)) else { return }
    _ = try? ExperimentPlan.parse(json, path: "plan.json", folder: scratch)
}

/// `model.safetensors.index.json`, fed to the index parser as bytes (no files). An index that
/// parses must locate the shards' tensors when each shard holds exactly what it lists, and must
/// name the mismatch when a tensor is missing, stored in another shard or stored unlisted.
func fuzzSafetensorsIndex(_ data: Data) {
    guard let index = try? SafetensorsShardIndex(bytes: [UInt8](data), path: "model.safetensors.index.json") else { return }
    let shardOf = Dictionary(index.shardNames.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    var contents = [[String]](repeating: [], count: index.shardNames.count)
    for (tensor, shard) in index.listed { contents[shardOf[shard]!].append(tensor) }
    guard let location = try? index.locate(shardTensors: contents) else { preconditionFailure("a consistent checkpoint was refused") }
    for (tensor, shard) in index.listed { precondition(index.shardNames[location[tensor]!] == shard, "\(tensor) located in the wrong shard") }

    var extra = contents
    if !extra.isEmpty {
        extra[0].append("\u{1}unlisted")
        expect(index, extra) { if case .tensorNotInIndex = $0 { true } else { false } }
    }
    guard let (tensor, shard) = index.listed.first else { return }
    var missing = contents
    missing[shardOf[shard]!].removeAll { $0 == tensor }
    expect(index, missing) { if case .tensorMissingFromShard = $0 { true } else { false } }
    if contents.count > 1 {
        var moved = missing
        moved[(shardOf[shard]! + 1) % contents.count].append(tensor)
        expect(index, moved) { if case .tensorInWrongShard = $0 { true } else { false } }
    }
}

/// `locate` must refuse `contents` with the error `matches` accepts.
func expect(_ index: SafetensorsShardIndex, _ contents: [[String]], _ matches: (SafetensorsError) -> Bool) {
    do {
        _ = try index.locate(shardTensors: contents)
        preconditionFailure("an inconsistent checkpoint was accepted")
    } catch {
        precondition(matches(error), "unexpected error: \(error)")
    }
}

/// A one-block LLaMA's `config.json` without its `quantization_config` (the shapes of
/// Fuzz/make-sparse-checkpoint-seeds.py).
let sparseModelConfig = """
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8, "intermediate_size": 12,
    "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 4, "vocab_size": 16,
    "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 64, "tie_word_embeddings": true,
    "hidden_act": "silu"
    """

/// The sparse-bitmask reader: the first line is `config.json`'s `quantization_config`, the rest
/// the checkpoint's `model.safetensors`. Every compressed weight must either throw a typed error or
/// give a matrix equal to its dense twin (built here from the stored parts) that multiplies like it
/// with every kernel.
func fuzzSparseCheckpoint(_ data: Data) {
    let split = data.firstIndex(of: 10) ?? data.startIndex
    let folder = scratch.appendingPathComponent("sparse")
    try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let quantization = String(decoding: data[data.startIndex..<split], as: UTF8.self)
    try? Data("{\(sparseModelConfig), \"quantization_config\": \(quantization.isEmpty ? "null" : quantization)}".utf8)
        .write(to: folder.appendingPathComponent("config.json"))
    try? Data(data[(split == data.endIndex ? split : split + 1)...]).write(to: folder.appendingPathComponent("model.safetensors"))

    typed { _ = try Checkpoint.openSafetensors(folder).sparseLinear(.query, block: 0) }
    guard let directory = try? SafetensorsCheckpoint(directory: folder) else { return }
    var source: SparseBitmaskSource?
    typed { source = try SparseBitmaskSource(directory) }
    guard let source else { return }
    for name in source.compressedWeights.prefix(8) {
        var stored: SparseMatrix?
        typed { stored = try source.sparseMatrix(name) }
        guard let matrix = stored, matrix.rows * matrix.columns <= maximumElements else { continue }
        checkAgainstDenseTwin(matrix, directory: directory, weight: name)
    }
    // Quantized values (I8 codes and scales), as the first line's bit width declares.
    let bits = quantization.contains("\"num_bits\":4") ? QuantizedType.q4_0 : quantization.contains("\"num_bits\":8") ? .q8_0 : nil
    guard let type = bits else { return }
    var quantizedSource: SparseBitmaskSource?
    typed { quantizedSource = try SparseBitmaskSource(directory, quantized: type) }
    guard let quantizedSource else { return }
    for name in quantizedSource.compressedWeights.prefix(8) {
        checkQuantized(quantizedSource, weight: name)
    }
}

/// A quantized weight decodes to a typed error or to values; its ggml blocks (when its scales are
/// f16 values) decode to exactly those values and, held as a sparse ``QuantizedMatrix``, multiply
/// like them.
func checkQuantized(_ source: SparseBitmaskSource, weight name: String) {
    var values: [Float]?
    typed { values = try source.floats(name) }
    guard let values, values.count <= maximumElements else { return }
    var stored: (blocks: [UInt8], type: QuantizedType, rows: Int, columns: Int)?
    typed { stored = try source.quantizedBlocks(name) }
    guard let stored, stored.rows * stored.columns == values.count else { return }
    var decoded = [Float](repeating: 0, count: values.count)
    stored.blocks.withUnsafeBytes { dequantize(stored.type.dtype, bytes: $0, count: values.count, into: &decoded) }
    for i in 0..<values.count {
        precondition(decoded[i].bitPattern == values[i].bitPattern || (decoded[i] == 0 && values[i] == 0) || (decoded[i].isNaN && values[i].isNaN),
                     "\(name)[\(i)]: the blocks decode to \(decoded[i]), the reader to \(values[i])")
    }
    let matrix = stored.blocks.withUnsafeBytes {
        QuantizedMatrix(blocks: $0, rows: stored.rows, columns: stored.columns, type: stored.type, sparse: true)
    }
    let input = (0..<stored.columns).map { Float($0 % 7) - 3 }
    var x = QuantizedVector(columns: stored.columns)
    x.referenceSet(input, columns: stored.columns)
    for kernel in QuantizedKernel.allCases where kernel.isSupported {
        var y = [Float](repeating: 0, count: stored.rows), reference = y
        matrix.multiply(x, into: &y, kernel: kernel)
        matrix.referenceMultiply(x, into: &reference)
        for r in 0..<stored.rows where reference[r].isFinite {
            precondition(abs(y[r] - reference[r]) <= 1e-3 * max(1, abs(reference[r])), "\(kernel) row \(r) of \(name) disagrees with the reference")
        }
    }
}

/// The dense matrix the stored parts describe, built without ``SparseMatrix``: row r's values
/// fill the set bits of its mask row in column order, from `row_offsets[r]` on.
func checkAgainstDenseTwin(_ matrix: SparseMatrix, directory: SafetensorsCheckpoint, weight: String) {
    let prefix = String(weight.dropLast(".weight".count))
    guard let values = try? directory.floats(prefix + ".compressed"), let offsets = try? directory.file(containing: prefix + ".row_offsets")?
            .int64s(prefix + ".row_offsets"), let mask = try? directory.file(containing: prefix + ".bitmask")?.storedBytes(prefix + ".bitmask", as: .u8)
    else { preconditionFailure("\(weight) read as a matrix but its parts do not decode") }
    let (rows, columns, stride) = (matrix.rows, matrix.columns, (matrix.columns + 7) / 8)
    var twin = [Float](repeating: 0, count: rows * columns)
    for r in 0..<rows {
        var k = Int(offsets[r])
        for c in 0..<columns where mask[r * stride + c / 8] & (1 << (c % 8)) != 0 {
            twin[r * columns + c] = values[k]
            k += 1
        }
    }
    let dense = matrix.dense().storage
    for i in 0..<twin.count {
        precondition(dense[i].bitPattern == twin[i].bitPattern || (dense[i].isNaN && twin[i].isNaN), "\(weight)[\(i)] differs from its dense twin")
    }
    let x = (0..<columns).map { Float($0 % 7) - 3 }
    for kernel in SparseKernel.available(for: matrix.valueType) {
        let y = matrix.multiply(x, kernel: kernel)
        for r in 0..<rows {
            var sum: Float = 0, scale: Float = 0
            for c in 0..<columns { sum += twin[r * columns + c] * x[c]; scale += abs(twin[r * columns + c] * x[c]) }
            guard scale.isFinite, sum.isFinite else { continue }
            precondition(abs(y[r] - sum) <= 1e-4 * scale + 1e-30, "\(kernel) row \(r) of \(weight) disagrees with the dense twin")
        }
    }
}

/// Runs `body`; an error must be one of the readers' typed errors (which name file and tensor).
func typed(_ body: () throws -> Void) {
    do {
        try body()
    } catch is SafetensorsError {
    } catch is SparseCheckpointError {
    } catch is SparseFormatError {
    } catch is ModelError {
    } catch {
        preconditionFailure("untyped error \(type(of: error)): \(error)")
    }
}

/// A test fixture of the repository (this binary runs from its root, as `make fuzz` does).
func fixture(_ path: String) -> URL {
    URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("Tests/Fixtures/" + path)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ pointer: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard size <= maximumInput else { return 0 }
    let data = pointer.map { Data(bytes: $0, count: size) } ?? Data()
    switch target {
    case "gguf": fuzzGGUF(data)
    case "safetensors": fuzzSafetensors(data)
    case "json": fuzzJSON(data)
    case "tokenizer-json": fuzzTokenizerJSON(data)
    case "sparse-matrix": fuzzSparseMatrix(data)
    case "zeroshot-jsonl": fuzzZeroShotJSONL(data)
    case "hf-config": fuzzHuggingFaceConfig(data)
    case "experiment-plan": fuzzExperimentPlan(data)
    case "safetensors-index": fuzzSafetensorsIndex(data)
    case "sparse-checkpoint": fuzzSparseCheckpoint(data)
    default:
        FileHandle.standardError.write(Data("DLP_FUZZ_TARGET must be one of: \(targets.joined(separator: ", "))\n".utf8))
        exit(2)
    }
    return 0
}
