import Foundation
import Testing
import TensorCore
import Kernels

@Suite struct VectorMathTests {
    /// Distance in units of the last place of the correctly rounded result.
    func ulps(_ value: Float, _ exact: Double) -> Double {
        abs(Double(value) - exact) / Double(Float(exact).ulp)
    }

    @Test func expWithinTwoUlpOverItsRange() {
        var worst = 0.0
        var worstX: Float = 0
        var generator = SeededGenerator(seed: 1)
        let grid = (0...200_000).map { Float(-87 + 175 * Double($0) / 200_000) }
        let random = (0..<100_000).map { _ in generator.nextSignedUnit() * 87 }
        let small = (0..<10_000).map { _ in generator.nextSignedUnit() * 1e-3 }
        for x in grid + random + small + [0, -0.0, 1, -1, 88, -87] {
            let error = ulps(VectorMath.exp(x), Foundation.exp(Double(x)))
            if error > worst { (worst, worstX) = (error, x) }
        }
        // 2 ulp is a relative error of at most 2·2⁻²³ ≈ 2.4e-7, inside the 1e-6 allowed.
        #expect(worst <= 2, "worst error \(worst) ulp at x = \(worstX)")
    }

    @Test func expVectorLanesAreIndependent() {
        var v = VectorMath.Vector()
        for i in 0..<VectorMath.width { v[i] = Float(i) - 7.5 }
        v[3] = -.infinity
        v[4] = 100
        v[5] = .nan
        let e = VectorMath.exp(v)
        #expect(e[3] == 0)
        #expect(e[4] == .infinity)
        #expect(e[5].isNaN)
        for i in [0, 1, 2, 6, 15] {
            #expect(ulps(e[i], Foundation.exp(Double(v[i]))) <= 2)
        }
    }

    @Test func expOutsideTheFastRange() {
        for x: Float in [-103, -95, -88, 88.5, 88.7, 89, .infinity] {
            let exact = Foundation.exp(Double(x))
            let value = VectorMath.exp(x)
            if Float(exact).isFinite && Float(exact).isNormal {
                #expect(ulps(value, exact) <= 1, "x = \(x)")
            } else {
                #expect(abs(Double(value) - Double(Float(exact))) <= Double(Float.leastNonzeroMagnitude) * 2
                        || (value.isInfinite && Float(exact).isInfinite), "x = \(x)")
            }
        }
    }
}
