/// Every way reading or writing a safetensors file or checkpoint directory can fail.
///
/// Each case names the file (its path), the tensor or key involved, expected and actual values,
/// and `description` ends with what to do next. Offsets of tensor data are relative to the start
/// of the data section (byte `8 + headerLength` of the file), as `data_offsets` are.
public enum SafetensorsError: Error, Sendable, Equatable, CustomStringConvertible {
    // MARK: One file
    /// The file could not be opened, stat'ed or mapped.
    case cannotOpen(file: String, reason: String)
    /// Fewer than the 8 bytes of the header-length prefix.
    case fileTooShort(file: String, size: Int)
    /// The file shrank after it was opened (another process truncated or rewrote it).
    case changedWhileOpen(file: String, mappedSize: Int, currentSize: Int)
    /// The declared header length exceeds the bytes after the prefix or `limit`.
    case headerLengthInvalid(file: String, declared: UInt64, available: Int, limit: Int)
    /// The header bytes are not one valid JSON document (`detail` says where and why).
    case invalidHeaderJSON(file: String, detail: String)
    /// The header is valid JSON but not an object starting with `{`.
    case headerNotObject(file: String, found: String)
    /// The header's top-level object repeats a tensor name.
    case duplicateTensor(file: String, tensor: String)
    /// `__metadata__` is not an object of strings.
    case invalidMetadata(file: String, detail: String)
    /// A tensor entry lacks `dtype`, `shape` or `data_offsets`, or one has the wrong type.
    case malformedEntry(file: String, tensor: String, detail: String)
    /// `dtype` is not a safetensors dtype name.
    case unknownDType(file: String, tensor: String, dtype: String)
    /// `dtype` is a valid safetensors dtype this library cannot decode to `Float`.
    case unsupportedDType(file: String, tensor: String, dtype: String)
    /// A tensor read as one dtype (an `I64` index tensor, a `U8` mask) is stored as another.
    case dtypeMismatch(file: String, tensor: String, expected: String, actual: String)
    /// `data_offsets` end before they begin.
    case reversedOffsets(file: String, tensor: String, begin: Int, end: Int)
    /// `data_offsets` end past the data section.
    case offsetsPastEnd(file: String, tensor: String, end: Int, dataSize: Int)
    /// The byte range's size differs from elements × dtype size (`expected` is nil on overflow).
    case sizeMismatch(file: String, tensor: String, dtype: String, shape: [Int], expected: Int?, actual: Int)
    /// Two tensors' byte ranges overlap.
    case overlappingTensors(file: String, first: String, firstRange: Range<Int>, second: String, secondRange: Range<Int>)
    /// Bytes of the data section belong to no tensor (a hole, or trailing bytes).
    case uncoveredData(file: String, gap: Range<Int>, dataSize: Int)
    /// No tensor of that name.
    case tensorNotFound(file: String, tensor: String)
    /// A caller's output buffer holds `actual` values; the tensor has `expected` elements.
    case destinationSizeMismatch(tensor: String, expected: Int, actual: Int)

    // MARK: Checkpoint directory
    /// The directory has no `config.json`.
    case missingConfig(directory: String)
    /// `config.json` is not a JSON object.
    case invalidConfig(file: String, detail: String)
    /// Neither `model.safetensors` nor `model.safetensors.index.json` exists.
    case missingWeights(directory: String)
    /// The index is not JSON, lacks `weight_map`, or maps a name to something other than a shard
    /// file name in the same directory.
    case invalidIndex(file: String, detail: String)
    /// The index names a shard file that does not exist.
    case missingShard(index: String, shard: String, tensor: String)
    /// The index places `tensor` in `shard`, but no shard holds it.
    case tensorMissingFromShard(index: String, tensor: String, shard: String)
    /// The index places `tensor` in `listedShard`, but it is stored in `actualShard` instead.
    case tensorInWrongShard(index: String, tensor: String, listedShard: String, actualShard: String)
    /// A shard holds a tensor the index does not list.
    case tensorNotInIndex(index: String, tensor: String, shard: String)
    /// Two shards both hold `tensor`.
    case duplicateAcrossShards(tensor: String, firstShard: String, secondShard: String)

    // MARK: Writing
    /// A tensor handed to the writer is inconsistent (values vs shape, dtype, name).
    case invalidTensorForWriting(tensor: String, detail: String)
    /// Creating, writing or renaming an output file failed.
    case writeFailed(file: String, reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(let file, let reason):
            return "\(file): cannot open (\(reason)). Check the path and its permissions."
        case .changedWhileOpen(let file, let mappedSize, let currentSize):
            return "\(file): the file shrank from \(mappedSize) to \(currentSize) bytes while dlp was reading it; "
                + "another process truncated or rewrote it. Wait for it to finish and run again."
        case .fileTooShort(let file, let size):
            return "\(file): only \(size) bytes, but a safetensors file starts with an 8-byte header length. "
                + "The file is truncated or not safetensors; re-download or re-export it."
        case .headerLengthInvalid(let file, let declared, let available, let limit):
            return "\(file): header length \(declared) bytes exceeds the \(available) bytes after the length prefix "
                + "or the \(limit)-byte limit. The file is truncated, corrupt or not safetensors."
        case .invalidHeaderJSON(let file, let detail):
            return "\(file): the header is not valid JSON: \(detail) (offset within the header). "
                + "The file is corrupt; re-export it."
        case .headerNotObject(let file, let found):
            return "\(file): the header must be a JSON object starting with '{', found \(found). "
                + "The file is corrupt or not safetensors."
        case .duplicateTensor(let file, let tensor):
            return "\(file): the header lists \"\(tensor)\" more than once; which entry is meant is ambiguous. "
                + "Re-export the checkpoint."
        case .invalidMetadata(let file, let detail):
            return "\(file): __metadata__ must map strings to strings: \(detail). Re-export the checkpoint."
        case .malformedEntry(let file, let tensor, let detail):
            return "\(file): tensor \"\(tensor)\": \(detail); each entry needs \"dtype\" (string), \"shape\" "
                + "(array of non-negative integers) and \"data_offsets\" ([begin, end] integers). Re-export the checkpoint."
        case .unknownDType(let file, let tensor, let dtype):
            return "\(file): unknown dtype \"\(dtype)\" for tensor \"\(tensor)\"; expected one of "
                + SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", ") + ". The file is corrupt or from a newer format."
        case .unsupportedDType(let file, let tensor, let dtype):
            return "\(file): unsupported dtype \(dtype) for tensor \"\(tensor)\"; only F32, F16, BF16 and F64 decode to Float. "
                + "Convert the checkpoint to a float dtype (e.g. with torch `.to(torch.bfloat16)`)."
        case .dtypeMismatch(let file, let tensor, let expected, let actual):
            return "\(file): tensor \"\(tensor)\" is stored as \(actual), expected \(expected). "
                + "The file was written by another tool or is corrupt; re-export it."
        case .reversedOffsets(let file, let tensor, let begin, let end):
            return "\(file): tensor \"\(tensor)\": data_offsets end \(end) is before begin \(begin). The header is corrupt."
        case .offsetsPastEnd(let file, let tensor, let end, let dataSize):
            return "\(file): tensor \"\(tensor)\": data_offsets end \(end) is past the \(dataSize)-byte data section. "
                + "The file is truncated; re-download it."
        case .sizeMismatch(let file, let tensor, let dtype, let shape, let expected, let actual):
            let expectedText = expected.map { "\($0) bytes" } ?? "a size that overflows"
            return "\(file): tensor \"\(tensor)\" \(dtype) \(shape) needs \(expectedText), but data_offsets span \(actual) bytes. "
                + "The header is corrupt; re-export the checkpoint."
        case .overlappingTensors(let file, let first, let firstRange, let second, let secondRange):
            return "\(file): tensors \"\(first)\" [\(firstRange.lowerBound), \(firstRange.upperBound)) and \"\(second)\" "
                + "[\(secondRange.lowerBound), \(secondRange.upperBound)) overlap. The header is corrupt; re-export the checkpoint."
        case .uncoveredData(let file, let gap, let dataSize):
            return "\(file): data bytes [\(gap.lowerBound), \(gap.upperBound)) of the \(dataSize)-byte data section belong "
                + "to no tensor; the safetensors format forbids holes and trailing bytes. Re-export the checkpoint."
        case .tensorNotFound(let file, let tensor):
            return "\(file): no tensor named \"\(tensor)\". List the file's tensors (`dlp inspect`) to check the name."
        case .destinationSizeMismatch(let tensor, let expected, let actual):
            return "tensor \"\(tensor)\" has \(expected) elements but the output buffer holds \(actual). "
                + "Allocate the buffer from the tensor's shape."
        case .missingConfig(let directory):
            return "\(directory): no config.json. A Hugging Face checkpoint directory needs it; copy it from the original model."
        case .invalidConfig(let file, let detail):
            return "\(file): not a JSON object: \(detail). Fix or re-download config.json."
        case .missingWeights(let directory):
            return "\(directory): neither model.safetensors nor model.safetensors.index.json exists. "
                + "Point at a directory holding safetensors weights."
        case .invalidIndex(let file, let detail):
            return "\(file): invalid shard index: \(detail). Re-download or re-export the checkpoint."
        case .missingShard(let index, let shard, let tensor):
            return "\(index): shard \"\(shard)\" (listed for tensor \"\(tensor)\") does not exist. Download every shard."
        case .tensorMissingFromShard(let index, let tensor, let shard):
            return "\(index): lists tensor \"\(tensor)\" in \"\(shard)\", but no shard holds it. "
                + "The shard or index is stale; re-download the checkpoint."
        case .tensorInWrongShard(let index, let tensor, let listedShard, let actualShard):
            return "\(index): lists tensor \"\(tensor)\" in \"\(listedShard)\", but it is stored in \"\(actualShard)\". "
                + "The index is stale; re-download the checkpoint."
        case .tensorNotInIndex(let index, let tensor, let shard):
            return "\(index): shard \"\(shard)\" holds tensor \"\(tensor)\", which the index does not list. "
                + "The index is stale; re-download the checkpoint."
        case .duplicateAcrossShards(let tensor, let firstShard, let secondShard):
            return "tensor \"\(tensor)\" is stored in both \(firstShard) and \(secondShard); which copy is meant is ambiguous. "
                + "Remove stale shards or re-download the checkpoint."
        case .invalidTensorForWriting(let tensor, let detail):
            return "cannot write tensor \"\(tensor)\": \(detail)."
        case .writeFailed(let file, let reason):
            return "\(file): write failed (\(reason)). Check free disk space and that the directory is writable."
        }
    }
}
