import Testing
import Foundation
import Pruning

@Suite struct AllocationTests {
    static let scores: [Double] = [0.8, 1.3, 1.1, 2.0, 1.7, 0.95, 1.45]

    /// DLP-METHOD §3 transcribed step by step.
    static func dlpByHand(_ s: [Double], p: Double, alpha: Double) -> [Double] {
        let sum = s.reduce(0, +)
        let importance = s.map { 1 - $0 / sum }
        let minI = importance.min()!, maxI = importance.max()!
        let d = importance.map { ($0 - minI) / (maxI - minI) * 2 * alpha }
        let meanD = d.reduce(0, +) / Double(d.count)
        return d.map { p + meanD - $0 }
    }

    /// DLP-METHOD §4 transcribed.
    static func owlByHand(_ outliers: [Double], p: Double, lambda: Double) -> [Double] {
        let minD = outliers.min()!, maxD = outliers.max()!
        let v = outliers.map { ($0 - minD) / (maxD - minD) }
        let meanV = v.reduce(0, +) / Double(v.count)
        return v.map { p - 2 * lambda * ($0 - meanV) }
    }

    @Test(arguments: [BlockStatistic.median, .mean])
    func dlpMatchesTheFormulaAveragesPAndSpansTwoAlpha(_ statistic: BlockStatistic) throws {
        let stats = Self.scores.map { statistic == .median ? statistics(median: $0) : statistics(mean: $0) }
        let ratios = try DLPAllocation(alpha: 0.15, statistic: statistic).ratios(stats, target: 0.7)
        let expected = Self.dlpByHand(Self.scores, p: 0.7, alpha: 0.15)
        for (a, b) in zip(ratios, expected) { #expect(abs(a - b) < 1e-12) }
        #expect(abs(ratios.reduce(0, +) / Double(ratios.count) - 0.7) < 1e-12)
        #expect(abs(ratios.max()! - ratios.min()! - 0.3) < 1e-12)
        // Larger S (less important) → pruned more.
        #expect(ratios[3] == ratios.max()!)
        #expect(ratios[0] == ratios.min()!)
        // Equivalent form R_l = p + 2α(u_l − mean u).
        let u = Self.scores.map { ($0 - 0.8) / (2.0 - 0.8) }
        let meanU = u.reduce(0, +) / Double(u.count)
        for (a, ul) in zip(ratios, u) { #expect(abs(a - (0.7 + 0.3 * (ul - meanU))) < 1e-12) }
    }

    @Test func owlMatchesTheFormulaAndAveragesP() throws {
        let outliers = [3.0, 1.2, 0.4, 2.2, 5.1]
        let stats = outliers.map { statistics(outlierRatio: $0) }
        let ratios = try OWLAllocation(outlierThreshold: 5, lambda: 0.08).ratios(stats, target: 0.7)
        let expected = Self.owlByHand(outliers, p: 0.7, lambda: 0.08)
        for (a, b) in zip(ratios, expected) { #expect(abs(a - b) < 1e-12) }
        #expect(abs(ratios.reduce(0, +) / 5 - 0.7) < 1e-12)
        #expect(abs(ratios.max()! - ratios.min()! - 0.16) < 1e-12)
        #expect(ratios[4] == ratios.min()!)   // most outliers → least pruning
    }

    @Test func equalStatisticsGiveUniform() throws {
        let stats = [BlockScoreStatistics](repeating: statistics(median: 2, mean: 2, outlierRatio: 3), count: 4)
        #expect(try DLPAllocation().ratios(stats, target: 0.6) == [0.6, 0.6, 0.6, 0.6])
        #expect(try OWLAllocation().ratios(stats, target: 0.6) == [0.6, 0.6, 0.6, 0.6])
        #expect(try UniformAllocation().ratios(stats, target: 0.6) == [0.6, 0.6, 0.6, 0.6])
    }

    @Test func owlRefusesStatisticsWithAnotherThreshold() {
        #expect(throws: PruningError.self) {
            try OWLAllocation(outlierThreshold: 5).ratios([statistics(threshold: 7), statistics(threshold: 7)], target: 0.5)
        }
    }

    @Test func clampingKeepsTheMeanInsideBounds() throws {
        // p = 0.9 with α = 0.15: the top block would be at ~1.07.
        let ratios = try DLPAllocation(alpha: 0.15).ratios(Self.scores.map { statistics(median: $0) }, target: 0.9)
        #expect(ratios.allSatisfy { $0 >= 0 && $0 <= RatioClamping.defaultCeiling })
        #expect(abs(ratios.reduce(0, +) / Double(ratios.count) - 0.9) < 1e-12)
        #expect(ratios.max()! == RatioClamping.defaultCeiling)
        // Order preserved.
        let raw = Self.dlpByHand(Self.scores, p: 0.9, alpha: 0.15)
        for i in ratios.indices { for j in ratios.indices where raw[i] < raw[j] { #expect(ratios[i] <= ratios[j]) } }
        // Low side: p = 0.05, α = 0.2.
        let low = try DLPAllocation(alpha: 0.2).ratios(Self.scores.map { statistics(median: $0) }, target: 0.05)
        #expect(low.min()! == 0)
        #expect(abs(low.reduce(0, +) / Double(low.count) - 0.05) < 1e-12)
    }

    @Test func clampingWithManyBlocksAtTheBounds() throws {
        let clamped = try RatioClamping.clamp([-0.5, -0.2, 0.1, 0.4, 1.7], target: 0.3, parameter: "alpha", value: 1)
        #expect(abs(clamped.reduce(0, +) / 5 - 0.3) < 1e-12)
        #expect(clamped.allSatisfy { $0 >= 0 && $0 <= 0.99 })
        #expect(try RatioClamping.clamp([0.2, 0.4], target: 0.3, parameter: "alpha", value: 1) == [0.2, 0.4])
    }

    @Test func impossibleTargetNamesPAndAlpha() {
        #expect(throws: PruningError.allocationImpossible(target: 0.995, parameter: "alpha", value: 0.15,
                                                          reason: "every block ratio must lie in [0, 0.99], so p must too")) {
            try DLPAllocation(alpha: 0.15).ratios(Self.scores.map { statistics(median: $0) }, target: 0.995)
        }
    }

    @Test func mixedNMKeepsTheMeanExactly() throws {
        // Ratios around 0.5 with M = 4 over 6 blocks: p·M·L = 12.
        let ratios = [0.35, 0.41, 0.47, 0.53, 0.59, 0.65]
        let mixed = try MixedNM(ratios: ratios, group: 4, target: 0.5)
        #expect(mixed.zeros.reduce(0, +) == 12)
        #expect(mixed.achievedMean == 0.5)
        #expect(mixed.zeros == mixed.zeros.sorted())
        #expect(mixed.zeros.allSatisfy { (0...3).contains($0) })
        // Uniform stays uniform.
        #expect(try MixedNM(ratios: [0.5, 0.5, 0.5], group: 4, target: 0.5).zeros == [2, 2, 2])
        // p·M·L not an integer: nearest total, reported.
        let odd = try MixedNM(ratios: [0.7, 0.7, 0.7], group: 4, target: 0.7)
        #expect(odd.zeros.reduce(0, +) == 8)
        #expect(abs(odd.achievedMean - 8.0 / 12) < 1e-15)
        let targets = try BlockTargets(pattern: .nm(zeros: 2, group: 4), ratios: ratios, target: 0.5)
        #expect(targets.targets.map { if case let .nm(z, _) = $0 { return z } else { return -1 } } == mixed.zeros)
    }

    @Test func patternParsing() throws {
        #expect(try SparsityPattern.parse("2:4") == .nm(zeros: 2, group: 4))
        #expect(try SparsityPattern.parse("4:8") == .nm(zeros: 4, group: 8))
        #expect(try SparsityPattern.parse("1:4") == .nm(zeros: 3, group: 4))
        #expect(try SparsityPattern.parse("unstructured") == .unstructured)
        #expect(SparsityPattern.nm(zeros: 3, group: 4).description == "1:4")
        for bad in ["4:4", "0:4", "2-4", "2:", "x:4", "5:4"] {
            #expect(throws: PruningError.self) { try SparsityPattern.parse(bad) }
        }
    }

    /// The data-free ramp: `R_l = p − α + 2α·l/(L − 1)`, mean p, span 2α, rising with depth.
    @Test func rampRisesLinearlyWithTheMeanAndSpanOfDLP() throws {
        let ramp = LinearRampAllocation(alpha: 0.15)
        #expect(ramp.requirement == .nothing)
        let ratios = try ramp.ratios([], blocks: 30, target: 0.7)
        #expect(ratios.count == 30)
        for (l, r) in ratios.enumerated() { #expect(abs(r - (0.55 + 0.3 * Double(l) / 29)) < 1e-12) }
        #expect(abs(ratios.reduce(0, +) / 30 - 0.7) < 1e-12)
        #expect(abs(ratios.max()! - ratios.min()! - 0.3) < 1e-12)
        #expect(try ramp.ratios([], blocks: 1, target: 0.6) == [0.6])
        #expect(try ramp.ratios([], blocks: 0, target: 0.6) == [])
        // Past [0, 0.99] it is clamped with the mean kept.
        let wide = try LinearRampAllocation(alpha: 0.4).ratios([], blocks: 8, target: 0.8)
        #expect(wide.allSatisfy { $0 >= 0 && $0 <= 0.99 } && abs(wide.reduce(0, +) / 8 - 0.8) < 1e-9)
        #expect(wide == wide.sorted())
    }

    /// Names, tags, labels, flags and manifest parameters come from each allocation's declaration.
    @Test func allocationsAreDescribedByTheirDeclarations() throws {
        #expect(Allocation.names == ["uniform", "owl", "dlp", "ramp"])
        let dlp = try Allocation.named("dlp")
        #expect(dlp.parameters == ["alpha": "0.15", "statistic": "median"])
        #expect(dlp.tag == "dlp-a0.15-median" && dlp.label == "DLP" && dlp.isDefault)
        let mean = try Allocation(name: "DLP", parameters: ["alpha": "0.100", "statistic": "Mean"])
        #expect(mean.parameters == ["alpha": "0.1", "statistic": "mean"])
        #expect(mean.tag == "dlp-a0.1-mean" && mean.label == "DLP (α=0.1, mean)")
        let owl = try Allocation(name: "owl", parameters: ["M": "5"])
        #expect(owl.parameters == ["M": "5.0", "lambda": "0.08"] && owl.tag == "owl-M5-l0.08" && owl.label == "OWL")
        #expect(try Allocation.named("uniform").tag == "uniform")
        #expect(try Allocation(name: "ramp", parameters: ["alpha": "0.2"]).tag == "ramp-a0.2")
        #expect(owl == (try Allocation(name: "owl", parameters: ["lambda": "0.08"])))
        #expect(owl != mean)
        // Requirements: OWL's threshold is the allocation's own, DLP needs scores, uniform and ramp nothing.
        #expect(owl.requirement == .blockScores(outlierThreshold: 5))
        #expect(dlp.requirement == .blockScores(outlierThreshold: nil))
        #expect(try Allocation.named("ramp").requirement == .nothing)
        // Flags: one per parameter; --alpha serves DLP and the ramp.
        #expect(Allocation.allParameters.map(\.flag) == ["--owl-m", "--owl-lambda", "--alpha", "--statistic"])
        #expect(Allocation.users(of: "--alpha") == ["dlp", "ramp"])
        for bad in [("dlpp", [String: String]()), ("dlp", ["M": "5"]), ("dlp", ["statistic": "max"]), ("owl", ["lambda": "-1"])] {
            #expect(throws: PruningError.self) { try Allocation(name: bad.0, parameters: bad.1) }
        }
        let data = try JSONEncoder().encode(mean)
        #expect(try JSONDecoder().decode(Allocation.self, from: data) == mean)
    }
}
