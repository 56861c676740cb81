import Testing
import TensorCore
import Kernels
import _TestSupport

@Suite struct CholeskyTests {
    /// `Uᵀ·U·H = I` for the upper factor of the inverse of a random SPD matrix of odd size.
    @Test(arguments: [1, 5, 37])
    func inverseUpperFactorInvertsH(_ n: Int) throws {
        var generator = SeededGenerator(seed: UInt64(n))
        let x = Matrix(rows: 2 * n + 3, columns: n, storage: generator.uniform(count: (2 * n + 3) * n))
        var h = GEMM.multiply(x, x, transposeA: true)
        for j in 0..<n { h[j, j] += 0.1 }
        let original = h
        let failure = h.storage.withUnsafeMutableBufferPointer { Cholesky.inverseUpperFactor($0.baseAddress!, size: n) }
        #expect(failure == nil)
        var u = Matrix(rows: n, columns: n)
        for i in 0..<n { for j in i..<n { u[i, j] = h[i, j] } }
        let product = Reference.multiply(Matrix(rows: n, columns: n, storage: Reference.multiply(u.transposed(), u).map(Float.init)), original)
        for i in 0..<n {
            for j in 0..<n { #expect(abs(product[i * n + j] - (i == j ? 1 : 0)) < 1e-3, "(\(i), \(j))") }
        }
    }

    @Test func indefiniteMatrixFailsAndKeepsTheUpperTriangle() {
        var h: [Float] = [1, 2, 2, 1]
        let failure = h.withUnsafeMutableBufferPointer { Cholesky.inverseUpperFactor($0.baseAddress!, size: 2) }
        #expect(failure == .notPositiveDefinite(step: .factorMatrix, order: 2))
        #expect(h[1] == 2)
    }
}
