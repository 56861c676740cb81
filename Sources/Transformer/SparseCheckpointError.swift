import Sparse

/// A checkpoint stored in the compressed-tensors "sparse-bitmask" layout whose configuration or
/// tensors cannot be read: what, where (the file and the tensor or key), and what to do.
public enum SparseCheckpointError: Error, CustomStringConvertible, Equatable {
    /// `config.json`'s `quantization_config` names a method or format this tool does not read.
    case unsupportedCompression(file: String, key: String, value: String, supported: [String])
    /// A compressed weight lacks some of its four tensors (`X.bitmask`, `X.compressed`,
    /// `X.row_offsets`, `X.shape`), or is stored both compressed and as `X.weight`.
    case incompleteTensor(file: String, tensor: String, detail: String)
    /// The packed values are stored in a type that is not F32, F16 or BF16.
    case unsupportedValueType(file: String, tensor: String, dtype: String)
    /// The parts' shapes disagree with each other or with the stored `X.shape`.
    case shapeDisagrees(file: String, tensor: String, detail: String)
    /// `X.row_offsets` does not start at 0, decreases, passes the value count, or gives a row more
    /// values than it has columns.
    case rowOffsetsOutOfRange(file: String, tensor: String, row: Int, detail: String)
    /// The bitmask disagrees with the row offsets or the value count (found when the matrix is
    /// read; `error` names the tensor).
    case damaged(file: String, error: SparseFormatError)

    public var description: String {
        switch self {
        case let .unsupportedCompression(file, key, value, supported):
            return "\(file): \(key) '\(value)' is not supported; supported: \(supported.joined(separator: ", ")). "
                + "Export the model dense (transformers' save_pretrained without compression) or in one of those"
        case let .incompleteTensor(file, tensor, detail):
            return "\(file): compressed tensor '\(tensor)': \(detail); the file is damaged or was written by another tool. Re-export it"
        case let .unsupportedValueType(file, tensor, dtype):
            return "\(file): '\(tensor)' stores its non-zeros as \(dtype); only F32, F16 and BF16 values are read. Re-export with --sparse-dtype f32|f16|bf16"
        case let .shapeDisagrees(file, tensor, detail):
            return "\(file): compressed tensor '\(tensor)': \(detail); the file is damaged. Re-export it"
        case let .rowOffsetsOutOfRange(file, tensor, row, detail):
            return "\(file): '\(tensor)' row \(row): \(detail); the file is damaged. Re-export it"
        case let .damaged(file, error):
            return "\(file): \(error). Re-export it"
        }
    }
}
