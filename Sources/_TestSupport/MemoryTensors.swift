import TensorIO

/// Tensors held in memory: a checkpoint source for tiny test models.
public struct MemoryTensors: TensorSource {
    public var tensors: [TensorInfo]
    public var values: [String: [Float]]

    public init(tensors: [TensorInfo], values: [String: [Float]]) {
        self.tensors = tensors
        self.values = values
    }

    public func floats(_ name: String) throws -> [Float] { values[name] ?? [] }
}
