import TensorCore

/// Name, element type and shape of one stored tensor.
///
/// `shape` is row-major, outermost dimension first, as Hugging Face and safetensors write it: a
/// linear weight is `[out, in]`. (GGUF lists dimensions fastest-first; its reader reverses them.)
public struct TensorInfo: Sendable, Equatable {
    /// Tensor name as stored in the file.
    public var name: String
    /// Stored element type.
    public var dtype: DType
    /// Row-major shape, outermost first.
    public var shape: [Int]

    public init(name: String, dtype: DType, shape: [Int]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }

    /// Product of the dimensions.
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A checkpoint whose tensors can be listed and decoded to `Float` one at a time.
///
/// Implementations memory-map their files and decode on demand, so a model larger than RAM in
/// `Float` can be processed tensor by tensor.
public protocol TensorSource: Sendable {
    /// Every tensor of the checkpoint, in file order.
    var tensors: [TensorInfo] { get }
    /// Decodes tensor `name` to row-major `Float` values (`elementCount` of them).
    func floats(_ name: String) throws -> [Float]
    /// Whether ``rowDecoder(_:columns:)`` gives a decoder (one row decoded without the rest of
    /// its tensor). Default false.
    var decodesRows: Bool { get }
    /// A function that decodes row `r` (`columns` values) of the 2-D tensor `name` into a
    /// destination, reading only that row; nil where the source cannot (default).
    func rowDecoder(_ name: String, columns: Int) throws -> (@Sendable (Int, UnsafeMutablePointer<Float>) -> Void)?
}

extension TensorSource {
    /// Looks a tensor up by name.
    public func info(_ name: String) -> TensorInfo? { tensors.first { $0.name == name } }

    public var decodesRows: Bool { false }

    public func rowDecoder(_ name: String, columns: Int) throws -> (@Sendable (Int, UnsafeMutablePointer<Float>) -> Void)? { nil }
}
