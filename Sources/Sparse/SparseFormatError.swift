/// A sparse matrix whose parts disagree, or a setting that is not valid: what, where, what to do.
public enum SparseFormatError: Error, CustomStringConvertible, Equatable {
    case invalidSetting(name: String, value: String, valid: String)
    /// The bitmask is not `[rows, ⌈columns/8⌉]` bytes.
    case maskShape(tensor: String, expected: Int, actual: Int)
    /// `row_offsets` has the wrong count, does not start at 0, decreases, or disagrees with the
    /// popcount of a row's mask.
    case rowOffsets(tensor: String, row: Int, detail: String)
    /// The number of stored values is not the mask's popcount.
    case valueCount(tensor: String, expected: Int, actual: Int)
    /// A mask bit is set for a column past the row's end.
    case bitsPastEnd(tensor: String, row: Int)

    public var description: String {
        switch self {
        case let .invalidSetting(name, value, valid): return "\(name) '\(value)' is not valid; valid: \(valid)"
        case let .maskShape(tensor, expected, actual):
            return "\(tensor): bitmask has \(actual) bytes, expected \(expected) (rows × ⌈columns/8⌉); the file is damaged or not a sparse-bitmask tensor"
        case let .rowOffsets(tensor, row, detail):
            return "\(tensor): row_offsets disagree with the bitmask at row \(row) (\(detail)); the file is damaged"
        case let .valueCount(tensor, expected, actual):
            return "\(tensor): \(actual) stored values, the bitmask has \(expected) set bits; the file is damaged"
        case let .bitsPastEnd(tensor, row):
            return "\(tensor): row \(row) has mask bits set past its last column; the file is damaged"
        }
    }
}
