import Foundation
import Kernels

/// Human-readable renderings of a ``PruningManifest``: `report.md` and the per-block sparsity
/// chart `sparsity.svg`.
public enum PruningReport {
    /// The Markdown report: what was done, per-block table, evaluation, timings.
    public static func markdown(_ m: PruningManifest) -> String {
        var lines = [String]()
        let pct = { (x: Double) in String(format: "%.2f%%", x * 100) }
        lines.append("# Pruning report: \(URL(fileURLWithPath: m.model.path).lastPathComponent)")
        lines.append("")
        lines.append("`\(m.command.joined(separator: " "))`")
        lines.append("")
        let parameters = m.settings.allocation.parameters.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }
        lines.append("| | |")
        lines.append("|---|---|")
        lines.append("| model | \(m.model.path) (\(m.model.format.rawValue), \(m.model.architecture.rawValue), \(m.model.layerCount) blocks) |")
        lines.append("| model sha256 | `\(m.model.sha256)` |")
        lines.append("| method | \(m.settings.method.rawValue), pattern \(m.settings.pattern) |")
        if let q = m.settings.quantization {
            let how = m.settings.method == .sparsegpt ? "inside SparseGPT's OBS loop" : "GPTQ with the \(m.settings.method.rawValue) mask fixed"
            lines.append("| joint quantization | \(q.rawValue): kept weights on the \(q.rawValue) grid (groups of 32 inputs), \(how); model.gguf stores them unchanged |")
        }
        if let precision = m.settings.precision {
            lines.append("| products | \(precision.rawValue)\(precision == .bf16 ? " (linear layers and LM head in bfloat16, f32 accumulation; statistics f32)" : "") |")
        }
        lines.append("| allocation | \(m.settings.allocation.name)\(parameters.isEmpty ? "" : " (" + parameters.joined(separator: ", ") + ")")\(m.allocationCacheHit ? ", ratios from cache" : "") |")
        lines.append("| target sparsity | \(pct(m.settings.targetSparsity)) of \(m.model.prunableParameters) block-linear weights |")
        lines.append("| measured sparsity | \(pct(m.overallSparsity))\(m.settings.quantization == nil ? "" : " (the pruning mask)") |")
        if let stored = m.storedSparsity {
            lines.append("| stored zeros | \(pct(stored)) of the written block-linear weights: the mask plus kept weights quantized to 0 |")
        }
        let c = m.calibration.settings
        lines.append("| calibration | \(c.samples) × \(c.sequenceLength) tokens of \(c.source.name), \(c.sampling.rawValue) sampling, seed \(c.seed); windows sha256 `\(m.calibration.windowsSHA256.prefix(16))…` |")
        lines.append("| tool | \(m.tool), \(m.createdAt) |")
        lines.append("")
        if !m.evaluation.isEmpty {
            lines.append("## Evaluation")
            lines.append("")
            lines.append("| dataset | windows × T | dense | pruned |")
            lines.append("|---|---|---|---|")
            for e in m.evaluation {
                lines.append("| \(e.dataset) | \(e.windows) × \(e.sequenceLength) | \(e.densePerplexity.map { String(format: "%.3f", $0) } ?? "—") | \(String(format: "%.3f", e.prunedPerplexity)) |")
            }
            lines.append("")
            lines.append("Protocol: \(m.evaluation[0].protocolDescription).")
            lines.append("")
        }
        lines.append("## Per block")
        lines.append("")
        lines.append("![per-block sparsity](sparsity.svg)")
        lines.append("")
        let roles = m.blocks.first?.matrices.map(\.role) ?? []
        lines.append("| block | statistic | requested | measured | " + roles.joined(separator: " | ") + " |")
        lines.append("|---:|---:|---:|---:|" + String(repeating: "---:|", count: roles.count))
        for b in m.blocks {
            let stat = b.statistic.map { String(format: "%.4g", $0) } ?? "—"
            lines.append("| \(b.block) | \(stat) | \(pct(b.requestedRatio)) | \(pct(b.measuredSparsity)) | "
                         + b.matrices.map { pct($0.sparsity) }.joined(separator: " | ") + " |")
        }
        let notes = m.blocks.flatMap { b in b.notes.map { "- block \(b.block): \($0)" } }
        if !notes.isEmpty {
            lines.append("")
            lines.append("Notes:")
            lines.append(contentsOf: notes)
        }
        if !m.outputs.isEmpty {
            lines.append("")
            lines.append("## Files")
            lines.append("")
            for output in m.outputs.sorted(by: { $0.file < $1.file }) {
                let size = output.bytes >= 1_000_000 ? String(format: "%.1f MB", Double(output.bytes) / 1e6)
                    : String(format: "%.1f kB", Double(output.bytes) / 1e3)
                var line = "- `\(output.file)`: \(size)"
                if output.file == "model.gguf", let linears = m.ggufLinears {
                    line += ", pruned linears \(linears.type.rawValue)"
                    if !linears.fallbacks.isEmpty {
                        let counts = Dictionary(grouping: linears.fallbacks.values, by: { $0 }).map { "\($0.value.count) as \($0.key.rawValue)" }
                        line += " (rows not a multiple of its block: \(counts.sorted().joined(separator: ", ")))"
                    }
                }
                if output.file.hasPrefix("sparse/model"), let type = m.sparseValueType {
                    line += ", block linears as compressed-tensors sparse-bitmask, values \(type.rawValue)"
                }
                lines.append(line)
            }
        }
        lines.append("")
        lines.append("## Time and memory")
        lines.append("")
        for (stage, seconds) in m.timings.sorted(by: { $0.key < $1.key }) {
            lines.append("- \(stage): \(String(format: "%.1f", seconds)) s")
        }
        let (allocation, pruning) = m.meanBlockSeconds
        if let allocation {
            lines.append("- allocation pass per block: \(blockSecondsText(allocation, scoring: "statistics"))")
        }
        if let pruning {
            lines.append("- pruning pass per block: \(blockSecondsText(pruning, scoring: "pruner"))")
        }
        lines.append("- peak resident memory: \(String(format: "%.0f", Double(m.peakResidentBytes) / 1_048_576)) MiB"
                     + (m.memoryEstimate.map { String(format: " (estimated %.0f MiB)", Double($0.total) / 1_048_576) } ?? ""))
        lines.append("")
        return lines.joined(separator: "\n")
    }

    /// `12.3 s (forward 8.1, observers 1.0, pruner 2.9, decode 0.2, store 0.1)`: a block's mean
    /// seconds, the part that scales with the calibration tokens first.
    public static func blockSecondsText(_ s: PruningPipeline.BlockSeconds, scoring: String) -> String {
        String(format: "%.1f s (forward %.1f, observers %.1f, %@ %.1f, decode %.1f, store %.1f)",
               s.total, s.forward, s.observers, scoring, s.scoring, s.decode, s.store)
    }

    /// A bar chart of requested (outline) and measured (filled) sparsity per block, with the
    /// target as a dashed line. Self-contained SVG.
    public static func svg(_ m: PruningManifest) -> String {
        let width = 720.0, height = 320.0, left = 56.0, right = 16.0, top = 36.0, bottom = 44.0
        let plotW = width - left - right, plotH = height - top - bottom
        let n = max(m.blocks.count, 1)
        let slot = plotW / Double(n), bar = max(slot * 0.7, 1)
        let y = { (v: Double) in top + plotH * (1 - min(max(v, 0), 1)) }
        var s = [String]()
        s.append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">")
        s.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>")
        let title = "\(m.settings.method.rawValue) + \(m.settings.allocation.name), target \(String(format: "%.0f", m.settings.targetSparsity * 100))% — \(URL(fileURLWithPath: m.model.path).lastPathComponent)"
        s.append("<text x=\"\(left)\" y=\"20\" font-size=\"13\" font-weight=\"bold\">\(escape(title))</text>")
        for tick in stride(from: 0.0, through: 1.0, by: 0.2) {
            s.append("<line x1=\"\(left)\" x2=\"\(left + plotW)\" y1=\"\(y(tick))\" y2=\"\(y(tick))\" stroke=\"#e4e4e4\"/>")
            s.append("<text x=\"\(left - 6)\" y=\"\(y(tick) + 4)\" text-anchor=\"end\">\(Int(tick * 100))%</text>")
        }
        for (i, b) in m.blocks.enumerated() {
            let x = left + Double(i) * slot + (slot - bar) / 2
            s.append("<rect x=\"\(x)\" y=\"\(y(b.measuredSparsity))\" width=\"\(bar)\" height=\"\(top + plotH - y(b.measuredSparsity))\" fill=\"#4a7bb7\"><title>block \(b.block): measured \(String(format: "%.2f", b.measuredSparsity * 100))%, requested \(String(format: "%.2f", b.requestedRatio * 100))%</title></rect>")
            s.append("<rect x=\"\(x)\" y=\"\(y(b.requestedRatio))\" width=\"\(bar)\" height=\"1.5\" fill=\"#c0392b\"/>")
            if n <= 40 || i % 2 == 0 {
                s.append("<text x=\"\(x + bar / 2)\" y=\"\(top + plotH + 14)\" text-anchor=\"middle\">\(b.block)</text>")
            }
        }
        let target = y(m.settings.targetSparsity)
        s.append("<line x1=\"\(left)\" x2=\"\(left + plotW)\" y1=\"\(target)\" y2=\"\(target)\" stroke=\"#333\" stroke-dasharray=\"5,4\"/>")
        s.append("<text x=\"\(left + plotW / 2)\" y=\"\(height - 8)\" text-anchor=\"middle\">block (bars: measured sparsity; red ticks: requested; dashed: target)</text>")
        s.append("</svg>")
        return s.joined(separator: "\n") + "\n"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
