import Foundation
import Jobs
import Pruning
import Training

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
///     MODEL/<cell id>/<recovery>/                a LoRA recovery's `dlp finetune` output (adapter/,
///                                                manifest.json, report.md, loss.svg; its unfinished
///                                                state in <recovery>.partial/, resumed) and the
///                                                cell's measurements of the adapted model; a run
///                                                whose adapter is missing while a measurement is
///                                                still to do is trained again
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
        func exists(_ url: URL) -> Bool { fm.fileExists(atPath: url.path) }
        var steps = [Step]()
        let denseMeasurements = plan.measurements(plan.dense)
        if !denseMeasurements.isEmpty {
            for model in plan.models {
                let dir = cellDirectory(model: model, cell: "dense")
                for m in denseMeasurements where !exists(dir.appendingPathComponent(m.fileName)) {
                    steps.append(Step(model: model, cell: "dense", name: m.label, job: try m.job(model: model, datasets: plan.datasets),
                                      output: dir.appendingPathComponent(m.fileName)))
                }
                // The unpruned model converted to each type: MODEL/dense-q4_0/model/model.gguf.
                for type in plan.denseWeights {
                    let folder = ExperimentPlan.denseFolder(type)
                    let dir = cellDirectory(model: model, cell: folder)
                    let converted = dir.appendingPathComponent("model")
                    let missing = denseMeasurements.filter { !exists(dir.appendingPathComponent($0.fileName)) }
                    let record = dir.appendingPathComponent(Self.conversionRecord)
                    if !exists(record) || (!missing.isEmpty && !exists(converted.appendingPathComponent("model.gguf"))) {
                        let job = ConvertJob(directory: model, formats: [.gguf], ggufType: type, output: converted.path, replaceExisting: true)
                        steps.append(Step(model: model, cell: folder, name: "convert \(type.rawValue.lowercased())", job: .convert(job),
                                          output: record))
                    }
                    for m in missing {
                        steps.append(Step(model: model, cell: folder, name: m.label, job: try m.job(model: converted.path, datasets: plan.datasets),
                                          output: dir.appendingPathComponent(m.fileName)))
                    }
                }
            }
        }
        // Cells whose model.gguf exists or will once the steps so far have run.
        var willHaveModel = Set<String>()
        func pruned(_ cell: ExperimentCell) -> URL { cellDirectory(model: cell.model, cell: cell.id).appendingPathComponent("pruned") }
        func key(_ cell: ExperimentCell) -> String { "\(cell.model)/\(cell.id)" }
        func checkManifest(_ cell: ExperimentCell) throws -> Bool {
            let url = pruned(cell).appendingPathComponent("manifest.json")
            guard exists(url) else { return false }
            if let reason = cell.mismatch(try ExperimentResults.readManifest(url), calibration: plan.calibration) {
                throw ExperimentError.conflictingCell(directory: cellDirectory(model: cell.model, cell: cell.id).path, reason: reason)
            }
            return true
        }
        func pruneStep(_ cell: ExperimentCell) -> Step {
            Step(model: cell.model, cell: cell.id, name: "prune",
                 job: .prune(cell.pruneJob(calibration: plan.calibration, output: pruned(cell).path, command: ["dlp", "experiment", plan.name])),
                 output: nil)
        }
        /// Schedules the prune of `cell` unless its model exists or is already scheduled.
        func ensureModel(_ cell: ExperimentCell) {
            guard !willHaveModel.contains(key(cell)) else { return }
            if !exists(pruned(cell).appendingPathComponent("model.gguf")) { steps.append(pruneStep(cell)) }
            willHaveModel.insert(key(cell))
        }
        for cell in plan.cells {
            let dir = cellDirectory(model: cell.model, cell: cell.id)
            let hasManifest = try checkManifest(cell)
            if cell.isConverted { _ = try checkManifest(cell.base) }
            let missing = plan.measurements(cell.evaluations).filter { !exists(dir.appendingPathComponent($0.fileName)) }
            let hasModel = willHaveModel.contains(key(cell)) || exists(pruned(cell).appendingPathComponent("model.gguf"))
            if !hasManifest || (!missing.isEmpty && !hasModel) {
                if cell.isConverted {
                    ensureModel(cell.base)
                    steps.append(Step(model: cell.model, cell: cell.id, name: "convert \(cell.weights)",
                                      job: .convert(cell.convertJob(from: pruned(cell.base).path, output: pruned(cell).path)), output: nil))
                    willHaveModel.insert(key(cell))
                } else if !willHaveModel.contains(key(cell)) {
                    steps.append(pruneStep(cell))
                    willHaveModel.insert(key(cell))
                }
            }
            for m in missing {
                steps.append(Step(model: cell.model, cell: cell.id, name: m.label, job: try m.job(model: pruned(cell).path, datasets: plan.datasets),
                                  output: dir.appendingPathComponent(m.fileName)))
            }
            for recovery in cell.recoveries {
                let folder = dir.appendingPathComponent(recovery.folder)
                let finished = try checkRecovery(recovery, folder: folder)
                let unmeasured = plan.measurements(cell.evaluations).filter { !exists(folder.appendingPathComponent($0.fileName)) }
                guard !finished || !unmeasured.isEmpty else { continue }
                // The measurements still to do need the adapter; a finished run whose adapter is
                // gone (results are committed without it) is trained again.
                let adapterFolder = folder.appendingPathComponent("adapter")
                let trained = finished && exists(adapterFolder.appendingPathComponent(PEFTAdapter.weightsFileName))
                // Training reads the pruned model, and an unmerged adapter is measured on it.
                ensureModel(cell)
                let label = "\(cell.id)/\(recovery.folder)"
                if !trained {
                    let partial = folder.deletingLastPathComponent().appendingPathComponent(folder.lastPathComponent + ".partial")
                    let job = recovery.job(model: pruned(cell).path, output: folder.path, settings: plan.recovery,
                                           resume: exists(partial.appendingPathComponent(FinetuneCheckpoint.fileName)),
                                           command: ["dlp", "experiment", plan.name])
                    steps.append(Step(model: cell.model, cell: cell.id, name: "fine-tune \(recovery.folder)", job: .finetune(job), output: nil))
                }
                let adapter = AdapterSettings(path: adapterFolder.path)
                for m in unmeasured {
                    steps.append(Step(model: cell.model, cell: label, name: m.label,
                                      job: try m.job(model: pruned(cell).path, datasets: plan.datasets, adapter: adapter),
                                      output: folder.appendingPathComponent(m.fileName)))
                }
            }
        }
        return steps
    }

    /// Whether `folder` holds a finished fine-tuning run (its manifest); throws if the run had
    /// other settings than `recovery` under the plan's.
    func checkRecovery(_ recovery: Recovery, folder: URL) throws -> Bool {
        let url = folder.appendingPathComponent("manifest.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return false }
        let manifest = try ExperimentResults.decode(FinetuneManifest.self, from: url)
        if let reason = recovery.mismatch(manifest.settings, settings: plan.recovery) {
            throw ExperimentError.conflictingCell(directory: folder.path, reason: reason)
        }
        return true
    }

    /// The result a dense conversion step leaves in its folder (the converted file's size), so
    /// the step counts as done after its model is deleted.
    static let conversionRecord = "convert.json"

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
            if !keepModels { try removeMeasuredModels(cells) }
        }
        if !keepModels { try removeMeasuredModels(cells) }
        let results = try ExperimentResults.collect(plan: plan, directory: directory)
        try results.write(to: directory)
        return steps.count
    }

    /// Deletes each model whose measurements all exist and that no unfinished conversion still
    /// needs: a cell's pruned model, a converted dense model, and an F32 base once every cell
    /// converted from it has its own model or is finished.
    private func removeMeasuredModels(_ cells: [ExperimentCell]) throws {
        let fm = FileManager.default
        func exists(_ url: URL) -> Bool { fm.fileExists(atPath: url.path) }
        func measured(_ cell: ExperimentCell) -> Bool {
            let dir = cellDirectory(model: cell.model, cell: cell.id)
            let measurements = plan.measurements(cell.evaluations)
            return measurements.allSatisfy { exists(dir.appendingPathComponent($0.fileName)) }
                && cell.recoveries.allSatisfy { recovery in
                    let folder = dir.appendingPathComponent(recovery.folder)
                    return exists(folder.appendingPathComponent("manifest.json"))
                        && measurements.allSatisfy { exists(folder.appendingPathComponent($0.fileName)) }
                }
        }
        func model(_ cell: ExperimentCell) -> URL { cellDirectory(model: cell.model, cell: cell.id).appendingPathComponent("pruned/model.gguf") }
        // F32 bases that a converted cell still needs (no manifest yet, or unmeasured without a model).
        var needed = Set<String>(), bases = [String: ExperimentCell]()
        for cell in cells where cell.isConverted {
            let key = "\(cell.model)/\(cell.base.id)"
            bases[key] = cell.base
            let dir = cellDirectory(model: cell.model, cell: cell.id)
            if !exists(dir.appendingPathComponent("pruned/manifest.json")) || (!measured(cell) && !exists(model(cell))) {
                needed.insert(key)
            }
        }
        for cell in cells where !needed.contains("\(cell.model)/\(cell.id)") && measured(cell) && exists(model(cell)) {
            try fm.removeItem(at: model(cell))
        }
        // Bases that are no cell of the plan have no measurements of their own.
        for (key, base) in bases where !needed.contains(key) && !cells.contains(where: { "\($0.model)/\($0.id)" == key }) {
            if exists(model(base)) { try fm.removeItem(at: model(base)) }
        }
        let denseMeasurements = plan.measurements(plan.dense)
        for m in plan.models {
            for type in plan.denseWeights {
                let dir = cellDirectory(model: m, cell: ExperimentPlan.denseFolder(type))
                let file = dir.appendingPathComponent("model/model.gguf")
                if exists(file), denseMeasurements.allSatisfy({ exists(dir.appendingPathComponent($0.fileName)) }) {
                    try fm.removeItem(at: file)
                }
            }
        }
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
