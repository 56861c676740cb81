import Testing
import TensorCore
import Kernels
import Transformer
import Pruning

@Suite struct ObserverTests {
    @Test func inputNormsDivideBySequences() throws {
        var generator = SeededGenerator(seed: 8)
        let sequences = (0..<3).map { _ in randomMatrix(5, 11, &generator) }
        let observer = InputNormObserver()
        for x in sequences {
            x.storage.withUnsafeBufferPointer { observer.observe($0.baseAddress!, tokens: 5, inputSize: 11, roles: [.query, .key, .value]) }
        }
        let s = try observer.squaredNorms(for: .key)
        for j in 0..<11 {
            let expected = sequences.reduce(0.0) { sum, x in (0..<5).reduce(sum) { $0 + Double(x[$1, j]) * Double(x[$1, j]) } } / 3
            #expect(abs(s[j] - expected) < 1e-12 * expected)
        }
        #expect(observer.sequences(for: .value) == 3)
        #expect(throws: PruningError.self) { try observer.squaredNorms(for: .down) }
    }

    @Test func hessianIsTwoOverNTimesGramAndSharedPerInput() throws {
        var generator = SeededGenerator(seed: 9)
        let sequences = (0..<4).map { _ in randomMatrix(6, 9, &generator) }
        let observer = HessianObserver(roles: [.gate, .up])
        for x in sequences {
            x.storage.withUnsafeBufferPointer { p in
                observer.observe(p.baseAddress!, tokens: 6, inputSize: 9, roles: [.query, .key, .value])
                observer.observe(p.baseAddress!, tokens: 6, inputSize: 9, roles: [.gate, .up])
            }
        }
        #expect(observer.recordedRoles == [.gate, .up])
        let h = try observer.hessian(for: .gate)
        for i in 0..<9 {
            for j in 0..<9 {
                let expected = sequences.reduce(0.0) { sum, x in (0..<6).reduce(sum) { $0 + Double(x[$1, i]) * Double(x[$1, j]) } } * 2 / 4
                #expect(abs(Double(h[i, j]) - expected) < 1e-5 * (1 + abs(expected)))
            }
        }
        let taken = try observer.takeHessian(for: .up)
        #expect(taken == h)
        #expect(try observer.takeHessian(for: .gate) == h)
        #expect(observer.recordedRoles.isEmpty)
    }
}
