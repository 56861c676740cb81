import Kernels
import Sparse
import TensorCore

/// A linear layer `y = x · Wᵀ` as the decoder runs it: the decoder hands it `tokens` rows of input
/// and does not know how the weight is stored (dense `Float`, dense 16-bit, bitmask-sparse).
/// One token takes the matrix–vector path, several the GEMM path.
public protocol LinearOperator: Sendable {
    /// Rows of the weight (outputs).
    var outputSize: Int { get }
    /// Columns of the weight (inputs).
    var inputSize: Int { get }
    /// Bytes of weight storage one product reads.
    var weightBytes: Int { get }
    /// How the weight is stored, e.g. `dense f32`, `sparse bf16`.
    var storage: LinearStorage { get }
    /// `y = x · Wᵀ` for `x` `[tokens, inputSize]`, `y` `[tokens, outputSize]` (overwritten).
    func apply(_ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>, threads: ComputeThreads)
}

/// How a ``LinearOperator`` stores its weight.
public struct LinearStorage: Sendable, Hashable, CustomStringConvertible {
    public var isSparse: Bool
    public var valueType: WeightType

    public init(isSparse: Bool, valueType: WeightType) {
        self.isSparse = isSparse
        self.valueType = valueType
    }

    public var description: String { "\(isSparse ? "sparse" : "dense") \(valueType)" }
}

/// A dense `Float` weight: the vector kernel of ``DenseGEMV`` for one token (rows split over the
/// worker pool), OpenBLAS `sgemm` for several.
public struct DenseFloatLinear: LinearOperator {
    public let weight: Matrix

    public init(_ weight: Matrix) { self.weight = weight }

    public var outputSize: Int { weight.rows }
    public var inputSize: Int { weight.columns }
    public var weightBytes: Int { weight.count * 4 }
    public var storage: LinearStorage { LinearStorage(isSparse: false, valueType: .f32) }

    public func apply(_ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>, threads: ComputeThreads) {
        weight.storage.withUnsafeBufferPointer { w in
            if tokens == 1 {
                DenseGEMV.multiply(w.baseAddress!, rows: weight.rows, columns: weight.columns, x: x, into: y, threads: threads)
            } else {
                GEMM.linear(input: x, tokens: tokens, inputSize: weight.columns, weight: w.baseAddress!,
                            outputSize: weight.rows, output: y)
            }
        }
    }
}

/// A dense f16 or bf16 weight: the vector kernels for one token, tiles widened to `Float` and
/// multiplied with BLAS for several.
public struct DenseHalfLinear: LinearOperator {
    public let weight: HalfMatrix

    public init(_ weight: HalfMatrix) { self.weight = weight }

    public var outputSize: Int { weight.rows }
    public var inputSize: Int { weight.columns }
    public var weightBytes: Int { weight.bytes }
    public var storage: LinearStorage { LinearStorage(isSparse: false, valueType: WeightType(weight.valueType)) }

    public func apply(_ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>, threads: ComputeThreads) {
        if tokens == 1 {
            weight.multiply(x, into: y, threads: threads)
        } else {
            weight.multiply(tokens: x, count: tokens, into: y)
        }
    }
}

/// A bitmask-sparse weight: the sparse GEMV kernels for one token (rows split over threads by
/// non-zero count), expanded tiles and BLAS for several.
public struct SparseLinear: LinearOperator {
    public let weight: SparseMatrix

    public init(_ weight: SparseMatrix) { self.weight = weight }

    public var outputSize: Int { weight.rows }
    public var inputSize: Int { weight.columns }
    public var weightBytes: Int { weight.storedBytes }
    public var storage: LinearStorage { LinearStorage(isSparse: true, valueType: WeightType(weight.valueType)) }

    public func apply(_ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>, threads: ComputeThreads) {
        if tokens == 1 {
            weight.multiply(x, into: y, threads: threads)
        } else {
            weight.multiply(tokens: x, count: tokens, into: y)
        }
    }
}

/// A weight on a quantized grid (Q8_0 / Q4_0 blocks), sparse or dense: the quantized GEMV kernels
/// for one token (the input quantized per 32 columns, as llama.cpp does), dequantized tiles and
/// BLAS for several.
public struct QuantizedLinear: LinearOperator {
    public let weight: QuantizedMatrix

    public init(_ weight: QuantizedMatrix) { self.weight = weight }

    public var outputSize: Int { weight.rows }
    public var inputSize: Int { weight.columns }
    public var weightBytes: Int { weight.storedBytes }
    public var storage: LinearStorage { LinearStorage(isSparse: weight.isSparse, valueType: WeightType(weight.type)) }

    public func apply(_ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>, threads: ComputeThreads) {
        if tokens == 1 {
            weight.multiply(x, into: y, threads: threads)
        } else {
            weight.multiply(tokens: x, count: tokens, into: y, threads: threads)
        }
    }
}
