/// One validated entry of a safetensors header.
public struct SafetensorsTensor: Sendable, Equatable {
    /// Tensor name (the header key).
    public var name: String
    /// Stored element type.
    public var dtype: SafetensorsDType
    /// Row-major shape, outermost first; `[]` is a scalar.
    public var shape: [Int]
    /// Byte range within the data section (`data_offsets`); the data section starts at file byte
    /// `8 + headerLength`.
    public var dataOffsets: Range<Int>

    /// Product of the dimensions (1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }

    /// The name, float dtype and shape, or nil when the dtype does not decode to `Float`.
    public var info: TensorInfo? {
        dtype.floatDType.map { TensorInfo(name: name, dtype: $0, shape: shape) }
    }
}
