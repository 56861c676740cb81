import Foundation
import Jobs
import Pruning

/// Runs one step of a plan: a job. A measurement's JSON result goes to `result`. Throws when the
/// job fails. ``ChildProcessExecutor`` (what `dlp experiment` uses) runs each job in a child
/// process; ``InProcessExecutor`` runs it in this one.
public protocol ExperimentStepExecutor {
    func run(_ job: Job, result: URL?) throws
}

/// Walks a plan's cells and does only what is missing, so an interrupted plan resumes where it
/// stopped and a finished plan does no work.
///
/// Layout under `directory` (the plan's results folder):
///
///     MODEL/dense/<measurement>.json             evaluations of the unpruned model
///     MODEL/<cell id>/pruned/manifest.json       the prune job's output (report.md, sparsity.svg;
///                                                model.gguf only while it is being measured)
///     MODEL/<cell id>/<measurement>.json         a perplexity job's `PerplexityResult` or a
///                                                zero-shot job's `ZeroShotReport`
///     results.json, results.csv                  everything above, collected
///
/// A step is finished when its file exists (results are written to a temporary name and
/// renamed). A pruned model whose measurements are all present is deleted unless `keepModels`;
/// if a measurement is added to the plan later, the cell is pruned again (same seed, same model).
public struct ExperimentRunner {
    public var plan: ExperimentPlan
    public var directory: URL
    public var keepModels: Bool

    /// One thing to do.
    public struct Step: Sendable, Equatable {
        public var model: String
        /// `dense` or the cell id.
        public var cell: String
        /// `prune` or a measurement label.
        public var name: String
        /// What the step runs.
        public var job: Job
        /// Where standard output goes (a measurement's result), or nil.
        public var output: URL?
    }

    public init(plan: ExperimentPlan, directory: URL, keepModels: Bool = false) {
        self.plan = plan
        self.directory = directory
        self.keepModels = keepModels
    }

    func cellDirectory(model: String, cell: String) -> URL {
        directory.appendingPathComponent(ModelFolder.name(model)).appendingPathComponent(cell)
    }

    /// The steps still to do, in order, assuming each finishes. Throws if a cell folder holds a
    /// run with other settings.
    public func pendingSteps() throws -> [Step] {
        let fm = FileManager.default
        var steps = [Step]()
        let denseMeasurements = plan.measurements(plan.dense)
        if !denseMeasurements.isEmpty {
            for model in plan.models {
                let dir = cellDirectory(model: model, cell: "dense")
                for m in denseMeasurements where !fm.fileExists(atPath: dir.appendingPathComponent(m.fileName).path) {
                    steps.append(Step(model: model, cell: "dense", name: m.label, job: try m.job(model: model, datasets: plan.datasets),
                                      output: dir.appendingPathComponent(m.fileName)))
                }
            }
        }
        for cell in plan.cells {
            let dir = cellDirectory(model: cell.model, cell: cell.id)
            let pruned = dir.appendingPathComponent("pruned")
            let manifestURL = pruned.appendingPathComponent("manifest.json")
            let hasManifest = fm.fileExists(atPath: manifestURL.path)
            if hasManifest {
                let manifest = try ExperimentResults.readManifest(manifestURL)
                if let reason = cell.mismatch(manifest, calibration: plan.calibration) {
                    throw ExperimentError.conflictingCell(directory: dir.path, reason: reason)
                }
            }
            let missing = plan.measurements(cell.evaluations).filter { !fm.fileExists(atPath: dir.appendingPathComponent($0.fileName).path) }
            let hasModel = fm.fileExists(atPath: pruned.appendingPathComponent("model.gguf").path)
            if !hasManifest || (!missing.isEmpty && !hasModel) {
                steps.append(Step(model: cell.model, cell: cell.id, name: "prune",
                                  job: .prune(cell.pruneJob(calibration: plan.calibration, output: pruned.path,
                                                            command: ["dlp", "experiment", plan.name])),
                                  output: nil))
            }
            for m in missing {
                steps.append(Step(model: cell.model, cell: cell.id, name: m.label, job: try m.job(model: pruned.path, datasets: plan.datasets),
                                  output: dir.appendingPathComponent(m.fileName)))
            }
        }
        return steps
    }

    /// Does every pending step, then collects `results.json` and `results.csv`. `report` is told
    /// about each step before it starts. Returns the number of steps run.
    @discardableResult
    public func run(executor: any ExperimentStepExecutor, report: (Int, Int, Step) -> Void = { _, _, _ in }) throws -> Int {
        let fm = FileManager.default
        let steps = try pendingSteps()
        let cells = plan.cells
        for (i, step) in steps.enumerated() {
            report(i + 1, steps.count, step)
            let dir = cellDirectory(model: step.model, cell: step.cell)
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
            var temporary: URL?
            if let output = step.output {
                temporary = output.deletingLastPathComponent().appendingPathComponent(".\(output.lastPathComponent).partial")
            }
            do { try executor.run(step.job, result: temporary) } catch {
                if let temporary { try? fm.removeItem(at: temporary) }
                let cell = "\(step.model)/\(step.cell)"
                if case let .stepFailed(_, name, reason) = error as? ExperimentError {
                    throw ExperimentError.stepFailed(cell: cell, step: name, reason: reason)
                }
                throw ExperimentError.stepFailed(cell: cell, step: step.name, reason: "\(error)")
            }
            if let output = step.output, let temporary {
                if fm.fileExists(atPath: output.path) { try fm.removeItem(at: output) }
                try fm.moveItem(at: temporary, to: output)
            }
            if !keepModels, let cell = cells.first(where: { $0.model == step.model && $0.id == step.cell }) {
                try removeModelIfMeasured(cell)
            }
        }
        if !keepModels { for cell in cells { try removeModelIfMeasured(cell) } }
        let results = try ExperimentResults.collect(plan: plan, directory: directory)
        try results.write(to: directory)
        return steps.count
    }

    /// Deletes a cell's pruned model once every measurement of it exists.
    private func removeModelIfMeasured(_ cell: ExperimentCell) throws {
        let dir = cellDirectory(model: cell.model, cell: cell.id)
        let fm = FileManager.default
        let done = plan.measurements(cell.evaluations).allSatisfy { fm.fileExists(atPath: dir.appendingPathComponent($0.fileName).path) }
        let model = dir.appendingPathComponent("pruned/model.gguf")
        if done, fm.fileExists(atPath: model.path) { try fm.removeItem(at: model) }
    }
}

/// Folder names for model references: a short name as is, a path by its last component
/// without extension.
enum ModelFolder {
    static func name(_ model: String) -> String {
        guard model.contains("/") else { return model }
        let last = URL(fileURLWithPath: model).deletingPathExtension().lastPathComponent
        return last.isEmpty ? "model" : last
    }
}
