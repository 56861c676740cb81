import Foundation
import Jobs

/// A progress line on stderr: bar, percentage, throughput and ETA. Redrawn in place on a
/// terminal; on a pipe or file, a line every 10%.
final class ProgressBar {
    private let label: String
    private let unit: String
    private let start = Date()
    private let interactive = isatty(STDERR_FILENO) != 0
    private var lastDecile = -1

    /// Starts the clock: create the bar when the work starts.
    init(label: String, unit: String) {
        self.label = label
        self.unit = unit
    }

    /// `unitsPerStep` converts steps to the throughput unit (e.g. tokens per step).
    func update(_ done: Int, of total: Int, unitsPerStep: Double = 1) {
        guard total > 0 else { return }
        let fraction = Double(done) / Double(total)
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) * unitsPerStep / elapsed : 0
        let eta = done > 0 ? elapsed * (1 - fraction) / fraction : 0
        let width = 24, filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = String(format: "%@ %@ %3.0f%%  %@ %@/s  ETA %@", label, bar, fraction * 100, Self.compact(rate), unit,
                          Self.duration(eta))
        if interactive {
            FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
            if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else {
            let decile = Int(fraction * 10)
            if decile != lastDecile {
                lastDecile = decile
                FileHandle.standardError.write(Data("\(line)\n".utf8))
            }
        }
    }

    static func compact(_ value: Double) -> String {
        value >= 1e6 ? String(format: "%.2fM", value / 1e6) : value >= 1e3 ? String(format: "%.1fk", value / 1e3)
            : String(format: "%.1f", value)
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(String(format: "%02d", s % 3600 / 60))m"
            : s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
    }
}

extension JobObserver {
    /// Progress bars and notes on stderr: a new bar whenever the task changes.
    static func terminal() -> JobObserver {
        let bars = TerminalProgress()
        return JobObserver(progress: bars.update, note: { FileHandle.standardError.write(Data("\($0)\n".utf8)) })
    }
}

/// The bar of the task in progress.
final class TerminalProgress {
    private var bar: ProgressBar?
    private var task: String?

    func update(_ p: JobProgress) {
        if task != p.task {
            task = p.task
            bar = ProgressBar(label: p.task, unit: p.unit)
        }
        bar?.update(p.done, of: p.total, unitsPerStep: p.unitsPerStep)
    }
}
