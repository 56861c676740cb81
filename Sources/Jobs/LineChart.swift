import Foundation
import Pruning

/// A small self-contained SVG line chart: numeric x, linear or logarithmic y, one polyline with
/// markers per series, a legend. Enough for perplexity-vs-sparsity and per-block profiles.
public struct LineChart: Sendable {
    public struct Series: Sendable {
        public var label: String
        public var points: [(x: Double, y: Double)]
        public var dashed: Bool

        public init(label: String, points: [(x: Double, y: Double)], dashed: Bool = false) {
            self.label = label
            self.points = points
            self.dashed = dashed
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var logY: Bool
    public var series: [Series]
    /// Tick labels of x; nil: five evenly spaced values.
    public var xTicks: [(value: Double, label: String)]?

    public init(title: String, xLabel: String, yLabel: String, logY: Bool = false, series: [Series],
                xTicks: [(value: Double, label: String)]? = nil) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.logY = logY
        self.series = series
        self.xTicks = xTicks
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]

    /// The chart as an SVG document: 640 × 400, wider when a legend label needs the room (about
    /// 7 px per character at the 12 px font).
    public var svg: String {
        let longestLabel = series.map(\.label.count).max() ?? 0
        let left = 70.0, right = max(170.0, 50 + 7 * Double(longestLabel)), top = 40.0, bottom = 55.0
        let width = left + 400 + right, height = 400.0
        let plotW = width - left - right, plotH = height - top - bottom
        let points = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite && (!logY || $0.y > 0) }
        var xs = points.map(\.x), ys = points.map { logY ? log10($0.y) : $0.y }
        if let ticks = xTicks { xs += ticks.map(\.value) }
        if xs.isEmpty { xs = [0, 1] }
        if ys.isEmpty { ys = [0, 1] }
        var xMin = xs.min()!, xMax = xs.max()!, yMin = ys.min()!, yMax = ys.max()!
        if xMax - xMin < 1e-12 { xMin -= 0.5; xMax += 0.5 }
        if yMax - yMin < 1e-12 { yMin -= 0.5; yMax += 0.5 }
        let pad = (yMax - yMin) * 0.06
        yMin -= pad; yMax += pad
        if !logY, yMin > 0, yMin < (yMax - yMin) * 0.5 { yMin = 0 }
        func px(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * plotW }
        func py(_ y: Double) -> Double {
            let v = logY ? log10(y) : y
            return top + plotH - (v - yMin) / (yMax - yMin) * plotH
        }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(f(left))" y="22" font-size="14" font-weight="bold">\(esc(title))</text>
            <rect x="\(f(left))" y="\(f(top))" width="\(f(plotW))" height="\(f(plotH))" fill="none" stroke="#888"/>

            """
        // y grid and ticks
        var yTicks = [Double]()
        if logY {
            let lo = Int(floor(yMin)), hi = Int(ceil(yMax))
            for e in lo...max(lo, hi) {
                for m in [1.0, 2.0, 5.0] {
                    let v = log10(m) + Double(e)
                    if v >= yMin, v <= yMax { yTicks.append(pow(10, v)) }
                }
            }
        } else {
            yTicks = Self.niceTicks(yMin, yMax)
        }
        for t in yTicks {
            let y = py(t)
            out += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + plotW))\" y2=\"\(f(y))\" stroke=\"#eee\"/>\n"
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(esc(Self.tickLabel(t)))</text>\n"
        }
        let ticks = xTicks ?? Self.niceTicks(xMin, xMax).map { ($0, Self.tickLabel($0)) }
        for t in ticks {
            let x = px(t.value)
            out += "<line x1=\"\(f(x))\" y1=\"\(f(top + plotH))\" x2=\"\(f(x))\" y2=\"\(f(top + plotH + 5))\" stroke=\"#888\"/>\n"
            out += "<text x=\"\(f(x))\" y=\"\(f(top + plotH + 18))\" text-anchor=\"middle\">\(esc(t.label))</text>\n"
        }
        out += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 12))\" text-anchor=\"middle\">\(esc(xLabel))</text>\n"
        out += "<text transform=\"translate(16 \(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\">\(esc(yLabel))</text>\n"
        for (i, s) in series.enumerated() {
            let color = Self.palette[i % Self.palette.count]
            let valid = s.points.filter { $0.x.isFinite && $0.y.isFinite && (!logY || $0.y > 0) }
            let path = valid.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            let dash = s.dashed ? " stroke-dasharray=\"6 4\"" : ""
            if valid.count > 1 {
                out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(dash)/>\n"
            }
            if valid.count <= 12 {
                for p in valid { out += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"3\" fill=\"\(color)\"/>\n" }
            }
            let ly = top + 14 + Double(i) * 18
            out += "<line x1=\"\(f(left + plotW + 12))\" y1=\"\(f(ly - 4))\" x2=\"\(f(left + plotW + 34))\" y2=\"\(f(ly - 4))\" stroke=\"\(color)\" stroke-width=\"2\"\(dash)/>\n"
            out += "<text x=\"\(f(left + plotW + 40))\" y=\"\(f(ly))\">\(esc(s.label))</text>\n"
        }
        out += "</svg>\n"
        return out
    }

    /// Round tick values (steps of 1, 2 or 5 × 10ᵏ, about five of them) inside `[lo, hi]`.
    static func niceTicks(_ lo: Double, _ hi: Double) -> [Double] {
        let raw = (hi - lo) / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2.0, 5.0, 10.0].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var ticks = [Double]()
        var v = ceil(lo / step) * step
        while v <= hi + step * 1e-9 {
            ticks.append(abs(v) < step * 1e-9 ? 0 : v)
            v += step
        }
        return ticks
    }

    /// `0.7`, `25`, `1.5k`: short tick text.
    static func tickLabel(_ v: Double) -> String {
        let a = abs(v)
        if a >= 10_000 { return compactNumber((v / 1000).rounded()) + "k" }
        if a >= 100 { return compactNumber(v.rounded()) }
        if a >= 10 { return compactNumber((v * 10).rounded() / 10) }
        return compactNumber((v * 1000).rounded() / 1000)
    }
}
