import Foundation
import Pruning
import TensorCore
import TensorIO
import Training
import Transformer

extension ExperimentPlan {
    /// Where a plan's results go unless told otherwise: `results/<name>` beside the plan file.
    public static func defaultResultsDirectory(planFile: URL, name: String) -> URL {
        planFile.deletingLastPathComponent().appendingPathComponent("results").appendingPathComponent(name)
    }

    /// Checks that the files the plan names (dataset files given by path, a calibration file) are
    /// readable, so a typo fails before hours of work rather than at the first step that needs it.
    /// `path` is the plan file, for the message. Fetched defaults (`ptb`, `c4`) are checked by the
    /// steps themselves.
    public func checkInputs(path: String) throws {
        let fm = FileManager.default
        for (name, spec) in datasets.sorted(by: { $0.key < $1.key }) {
            let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
            if parts.count == 2, !fm.isReadableFile(atPath: parts[1]) {
                throw ExperimentError.invalidPlan(path: path, key: "datasets.\(name)", reason: "cannot read \(parts[1])")
            }
        }
        if !fm.isReadableFile(atPath: calibration.source.path) {
            throw ExperimentError.invalidPlan(path: path, key: "calibration.source", reason: "cannot read \(calibration.source.path)"
                                              + (calibration.source.name == "c4" ? "; fetch it with `make assets`" : ""))
        }
    }

    /// Reads and validates a plan file. Unknown keys are errors (a misspelt key would otherwise
    /// silently run the wrong grid); dataset paths become absolute, relative to the plan's folder.
    public static func load(from url: URL) throws -> ExperimentPlan {
        let path = url.path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ExperimentError.unreadablePlan(path: path, reason: "no such file or not readable")
        }
        let object: JSONValue
        do { object = try JSONValue.parse([UInt8](data)) } catch {
            throw ExperimentError.unreadablePlan(path: path, reason: "not valid JSON (\(error))")
        }
        return try parse(object, path: path, folder: url.deletingLastPathComponent())
    }

    /// Validates a decoded JSON object as a plan. `folder` anchors relative dataset paths.
    public static func parse(_ object: JSONValue, path: String, folder: URL) throws -> ExperimentPlan {
        let reader = Reader(path: path)
        let root = try reader.dictionary(object, key: "plan",
                                         allowed: ["name", "description", "calibration", "datasets", "perplexity",
                                                   "zeroshot", "dense", "recovery", "grids"])
        let name = try reader.string(root["name"], key: "name")
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }), !name.hasPrefix(".") else {
            throw ExperimentError.invalidPlan(path: path, key: "name", reason: "use letters, digits, '-', '_' or '.' (it names the results folder)")
        }
        let description = try root["description"].map { try reader.string($0, key: "description") } ?? ""

        var calibration = CalibrationSettings.planDefault()
        if let value = root["calibration"] {
            let c = try reader.dictionary(value, key: "calibration", allowed: ["source", "sampling", "samples", "seqlen", "seed"])
            if let v = c["source"] {
                let source = try reader.string(v, key: "calibration.source")
                if source != "c4" {
                    let file = source.hasPrefix("/") ? URL(fileURLWithPath: source) : folder.appendingPathComponent(source).standardizedFileURL
                    calibration.source = CalibrationSource(name: file.lastPathComponent, path: file.path)
                }
            }
            if let v = c["sampling"] {
                let text = try reader.string(v, key: "calibration.sampling")
                guard let sampling = CalibrationSampling(rawValue: text) else {
                    throw ExperimentError.invalidPlan(path: path, key: "calibration.sampling",
                                                      reason: "expected \(CalibrationSampling.allCases.map(\.rawValue).joined(separator: " or "))")
                }
                calibration.sampling = sampling
            }
            if let v = c["samples"] { calibration.samples = try reader.positiveInt(v, key: "calibration.samples") }
            if let v = c["seqlen"] { calibration.sequenceLength = try reader.positiveInt(v, key: "calibration.seqlen") }
            if let v = c["seed"] { calibration.seed = UInt64(try reader.nonNegativeInt(v, key: "calibration.seed")) }
        }

        var datasets = [String: String]()
        if let value = root["datasets"] {
            let d = try reader.dictionary(value, key: "datasets", allowed: ["wikitext2", "ptb", "c4"])
            for (key, raw) in d.members {
                let given = try reader.string(raw, key: "datasets.\(key)")
                if given.isEmpty {
                    guard key != "wikitext2" else {
                        throw ExperimentError.invalidPlan(path: path, key: "datasets.wikitext2",
                                                          reason: "needs the path of wiki.test.raw (WikiText-2 is not fetched)")
                    }
                    datasets[key] = key
                } else {
                    let file = given.hasPrefix("/") ? given : folder.appendingPathComponent(given).standardizedFileURL.path
                    datasets[key] = "\(key):\(file)"
                }
            }
        }

        var perplexity = PerplexitySpec()
        if let value = root["perplexity"] {
            let p = try reader.dictionary(value, key: "perplexity", allowed: ["seqlen", "max_windows"])
            if let v = p["seqlen"] { perplexity.seqlen = try reader.positiveInt(v, key: "perplexity.seqlen") }
            if let v = p["max_windows"], !v.isNull { perplexity.maxWindows = try reader.positiveInt(v, key: "perplexity.max_windows") }
        }
        var zeroshot = ZeroShotSpec()
        if let value = root["zeroshot"] {
            let z = try reader.dictionary(value, key: "zeroshot", allowed: ["tasks", "limit"])
            if let v = z["tasks"] { zeroshot.tasks = try reader.string(v, key: "zeroshot.tasks") }
            if let v = z["limit"], !v.isNull { zeroshot.limit = try reader.positiveInt(v, key: "zeroshot.limit") }
        }

        func evaluations(_ object: JSONObject, key: String) throws -> Evaluations {
            var e = Evaluations()
            if let v = object["perplexity"] {
                e.perplexity = try reader.strings(v, key: "\(key).perplexity")
                for name in e.perplexity where datasets[name] == nil {
                    throw ExperimentError.invalidPlan(path: path, key: "\(key).perplexity",
                                                      reason: "dataset '\(name)' is not in \"datasets\" (\(datasets.keys.sorted().joined(separator: ", ")))")
                }
            }
            if let v = object["zeroshot"] { e.zeroshot = try reader.bool(v, key: "\(key).zeroshot") }
            return e
        }

        var dense = Evaluations()
        var denseWeights = [DType]()
        if let value = root["dense"] {
            let d = try reader.dictionary(value, key: "dense", allowed: ["perplexity", "zeroshot", "weights"])
            dense = try evaluations(d, key: "dense")
            if let v = d["weights"] {
                denseWeights = try reader.weights(v, key: "dense.weights").map { format in
                    guard case .exported(let type) = format else {
                        throw ExperimentError.invalidPlan(path: path, key: "dense.weights",
                                                          reason: "\(format) quantizes jointly with pruning; an unpruned model is converted by round-to-nearest only (\(format.dtype.rawValue.lowercased()))")
                    }
                    return type
                }
            }
        }

        var recovery = RecoverySettings()
        if let value = root["recovery"] {
            let r = try reader.dictionary(value, key: "recovery",
                                          allowed: ["seqlen", "batch_tokens", "warmup", "schedule", "rank", "alpha", "dropout", "seed",
                                                    "held_out", "eval_every", "keep_activations"])
            if let v = r["seqlen"] { recovery.sequenceLength = try reader.positiveInt(v, key: "recovery.seqlen") }
            if let v = r["batch_tokens"] { recovery.batchTokens = try reader.positiveInt(v, key: "recovery.batch_tokens") }
            if let v = r["warmup"] { recovery.warmupSteps = try reader.nonNegativeInt(v, key: "recovery.warmup") }
            if let v = r["schedule"] {
                let text = try reader.string(v, key: "recovery.schedule")
                guard let decay = LearningRateSchedule.Decay(rawValue: text) else {
                    throw ExperimentError.invalidPlan(path: path, key: "recovery.schedule",
                                                      reason: "expected \(LearningRateSchedule.Decay.allCases.map(\.rawValue).joined(separator: " or "))")
                }
                recovery.decay = decay
            }
            if let v = r["rank"] { recovery.rank = try reader.positiveInt(v, key: "recovery.rank") }
            if let v = r["alpha"] {
                recovery.alpha = try reader.number(v, key: "recovery.alpha")
                guard recovery.alpha > 0 else { throw ExperimentError.invalidPlan(path: path, key: "recovery.alpha", reason: "expected a positive number") }
            }
            if let v = r["dropout"] {
                recovery.dropout = try reader.number(v, key: "recovery.dropout")
                guard recovery.dropout < 1 else { throw ExperimentError.invalidPlan(path: path, key: "recovery.dropout", reason: "expected a probability in [0, 1)") }
            }
            if let v = r["seed"] { recovery.seed = UInt64(try reader.nonNegativeInt(v, key: "recovery.seed")) }
            if let v = r["held_out"] { recovery.heldOutWindows = try reader.nonNegativeInt(v, key: "recovery.held_out") }
            if let v = r["eval_every"] { recovery.heldOutInterval = try reader.positiveInt(v, key: "recovery.eval_every") }
            if let v = r["keep_activations"] { recovery.keepsActivations = try reader.bool(v, key: "recovery.keep_activations") }
            if let batch = recovery.batchTokens, batch % recovery.sequenceLength != 0 {
                throw ExperimentError.invalidPlan(path: path, key: "recovery.batch_tokens",
                                                  reason: "\(batch) is not a multiple of recovery.seqlen \(recovery.sequenceLength)")
            }
        }

        guard let gridValues = root["grids"]?.arrayValue, !gridValues.isEmpty else {
            throw ExperimentError.invalidPlan(path: path, key: "grids", reason: "expected a non-empty list of grids")
        }
        var grids = [Grid]()
        var cellCount = 0 // at most maximumCells + 1
        for (i, value) in gridValues.enumerated() {
            let key = "grids[\(i)]"
            let g = try reader.dictionary(value, key: key, allowed: ["models", "methods", "allocations", "sparsities", "patterns",
                                                                      "weights", "perplexity", "zeroshot", "recovery"])
            let models = try reader.strings(g["models"] ?? .array([]), key: "\(key).models")
            guard !models.isEmpty else { throw ExperimentError.invalidPlan(path: path, key: "\(key).models", reason: "name at least one model") }
            let methods = try reader.strings(g["methods"] ?? .array([]), key: "\(key).methods").map { text in
                do { return try PruningMethod.parse(text) } catch {
                    throw ExperimentError.invalidPlan(path: path, key: "\(key).methods", reason: "\(error)")
                }
            }
            guard !methods.isEmpty else { throw ExperimentError.invalidPlan(path: path, key: "\(key).methods", reason: "name at least one method") }
            guard let allocationValues = g["allocations"]?.arrayValue, !allocationValues.isEmpty else {
                throw ExperimentError.invalidPlan(path: path, key: "\(key).allocations", reason: "expected a non-empty list")
            }
            let allocations = try allocationValues.enumerated().map { try reader.allocation($1, key: "\(key).allocations[\($0)]") }
            let patterns = try reader.strings(g["patterns"] ?? .array([.string("unstructured")]), key: "\(key).patterns").map { text in
                do { return try SparsityPattern.parse(text) } catch {
                    throw ExperimentError.invalidPlan(path: path, key: "\(key).patterns", reason: "\(error)")
                }
            }
            var sparsities = [Double]()
            if let v = g["sparsities"] {
                guard let list = v.arrayValue else { throw ExperimentError.invalidPlan(path: path, key: "\(key).sparsities", reason: "expected a list of numbers") }
                sparsities = try list.map { item in
                    guard let x = item.doubleValue, x > 0, x < 1 else {
                        throw ExperimentError.invalidPlan(path: path, key: "\(key).sparsities", reason: "\(item.serialized()) is not a number in (0, 1)")
                    }
                    return x
                }
            }
            if patterns.contains(.unstructured), sparsities.isEmpty {
                throw ExperimentError.invalidPlan(path: path, key: "\(key).sparsities", reason: "unstructured cells need at least one sparsity")
            }
            let weights = try g["weights"].map { try reader.weights($0, key: "\(key).weights") } ?? [.standard]
            // The cells are a cross product: bounded before `cells` expands it (a few kilobytes
            // of lists would otherwise name billions of cells).
            var gridCells = 1
            for factor in [models.count, methods.count, allocations.count, patterns.count, max(sparsities.count, 1), weights.count] {
                gridCells = min(gridCells.multipliedReportingOverflow(by: factor).partialValue, ExperimentPlan.maximumCells + 1)
            }
            cellCount = min(cellCount + gridCells, ExperimentPlan.maximumCells + 1)
            guard cellCount <= ExperimentPlan.maximumCells else {
                throw ExperimentError.invalidPlan(path: path, key: key, reason: "the plan names more than \(ExperimentPlan.maximumCells) cells "
                                                  + "(models × methods × allocations × patterns × sparsities × weights, summed over the grids); split it into smaller plans")
            }
            let recoveries = try g["recovery"].map { try reader.recoveries($0, key: "\(key).recovery") } ?? []
            if !recoveries.isEmpty, let format = weights.first(where: { $0 != .standard }) {
                throw ExperimentError.invalidPlan(path: path, key: "\(key).recovery",
                                                  reason: "recovery fine-tunes the prune's F32 model; this grid also names \(format): put the recoveries in a grid of f32 cells")
            }
            for r in recoveries {
                let job = r.job(model: "", output: "", settings: recovery, resume: false, command: [])
                if job.warmupSteps > job.totalSteps {
                    throw ExperimentError.invalidPlan(path: path, key: "\(key).recovery.tokens",
                                                      reason: "\(r.tokens) tokens make \(job.totalSteps) steps of \(job.batchTokens) tokens, fewer than recovery.warmup \(job.warmupSteps)")
                }
            }
            grids.append(Grid(models: models, methods: methods, allocations: allocations, sparsities: sparsities,
                              patterns: patterns, weights: weights, evaluations: try evaluations(g, key: key), recoveries: recoveries))
        }
        return ExperimentPlan(name: name, description: description, calibration: calibration, datasets: datasets,
                              perplexity: perplexity, zeroshot: zeroshot, dense: dense, denseWeights: denseWeights,
                              recovery: recovery, grids: grids)
    }
}

/// Typed access to a decoded JSON value, with errors naming the plan file and key.
private struct Reader {
    var path: String

    func fail(_ key: String, _ reason: String) -> ExperimentError {
        ExperimentError.invalidPlan(path: path, key: key, reason: reason)
    }

    func dictionary(_ value: JSONValue, key: String, allowed: Set<String>) throws -> JSONObject {
        guard let d = value.objectValue else { throw fail(key, "expected an object, found \(value.kindName)") }
        if let unknown = d.keys.first(where: { !allowed.contains($0) }) {
            throw fail(key, "unknown key '\(unknown)'; valid: \(allowed.sorted().joined(separator: ", "))")
        }
        return d
    }

    func string(_ value: JSONValue?, key: String) throws -> String {
        guard let s = value?.stringValue else { throw fail(key, "expected a string") }
        return s
    }

    func strings(_ value: JSONValue, key: String) throws -> [String] {
        guard let list = value.arrayValue else { throw fail(key, "expected a list of strings") }
        return try list.map { item in
            guard let s = item.stringValue else { throw fail(key, "expected a list of strings, found \(item.kindName)") }
            return s
        }
    }

    /// A non-empty list of weight formats without repeats (`["f16", "q4_0", "q4_0-joint"]`).
    func weights(_ value: JSONValue, key: String) throws -> [WeightFormat] {
        let names = try strings(value, key: key)
        guard !names.isEmpty else { throw fail(key, "name at least one weight format (f32 is the prune's own export)") }
        let formats = try names.map { name in
            do { return try WeightFormat.parse(name) } catch let error as WeightFormatError { throw fail(key, error.reason) }
        }
        if let repeated = formats.first(where: { f in formats.filter { $0 == f }.count > 1 }) {
            throw fail(key, "\(repeated) is named twice")
        }
        return formats
    }

    /// A grid's `"recovery"`: `{"tokens": [250000, 500000], "masked": [true, false], "targets": ["q,v", "all"], "lr": [1e-4]}`,
    /// crossed in that order; `tokens` is required, the others default to `[true]`, `["q,v"]`, `[1e-4]`.
    func recoveries(_ value: JSONValue, key: String) throws -> [Recovery] {
        let r = try dictionary(value, key: key, allowed: ["tokens", "masked", "targets", "lr"])
        func list(_ name: String) throws -> [JSONValue]? {
            guard let v = r[name] else { return nil }
            guard let items = v.arrayValue, !items.isEmpty else { throw fail("\(key).\(name)", "expected a non-empty list") }
            return items
        }
        guard let tokenValues = try list("tokens") else { throw fail("\(key).tokens", "name the token budgets, e.g. [250000, 500000]") }
        let tokens = try tokenValues.map { try positiveInt($0, key: "\(key).tokens") }
        let masked = try (try list("masked"))?.map { try bool($0, key: "\(key).masked") } ?? [true]
        let targets = try (try list("targets"))?.map { item -> [TensorRole] in
            guard let text = item.stringValue else { throw fail("\(key).targets", "expected strings such as \"q,v\" or \"all\"") }
            do { return try LoRAConfiguration.parseTargets(text) } catch let error as TrainingError { throw fail("\(key).targets", error.description) }
        } ?? [[.query, .value]]
        let rates = try (try list("lr"))?.map { item -> Double in
            guard let x = item.doubleValue, x.isFinite, x > 0 else { throw fail("\(key).lr", "\(item.serialized()) is not a positive number") }
            return x
        } ?? [1e-4]
        var out = [Recovery]()
        for t in tokens { for m in masked { for g in targets { for lr in rates {
            let recovery = Recovery(tokens: t, masked: m, targets: g, learningRate: lr)
            if out.contains(recovery) { throw fail(key, "\(recovery.folder) is named twice") }
            out.append(recovery)
        } } } }
        return out
    }

    func bool(_ value: JSONValue, key: String) throws -> Bool {
        guard let b = value.boolValue else { throw fail(key, "expected true or false") }
        return b
    }

    func positiveInt(_ value: JSONValue, key: String) throws -> Int {
        let n = try nonNegativeInt(value, key: key)
        guard n > 0 else { throw fail(key, "expected a positive integer") }
        return n
    }

    func nonNegativeInt(_ value: JSONValue, key: String) throws -> Int {
        guard let n = value.intValue, n >= 0 else { throw fail(key, "expected a non-negative integer") }
        return n
    }

    func number(_ value: JSONValue, key: String) throws -> Double {
        guard let x = value.doubleValue, x.isFinite, x >= 0 else { throw fail(key, "expected a number ≥ 0") }
        return x
    }

    /// `"dlp"`, or an object naming the allocation and any of its declared parameters:
    /// `{"name": "dlp", "alpha": 0.1, "statistic": "mean"}`.
    func allocation(_ value: JSONValue, key: String) throws -> Allocation {
        if let text = value.stringValue {
            do { return try Allocation.named(text) } catch let e as PruningError { throw fail(key, e.description) }
        }
        guard let object = value.objectValue, let name = object["name"]?.stringValue else {
            throw fail(key, "expected an allocation name or an object with a \"name\"")
        }
        guard let kind = try? Allocation.kind(named: name) else {
            throw fail("\(key).name", "'\(name)' is not an allocation; valid: \(Allocation.names.joined(separator: ", "))")
        }
        let d = try dictionary(value, key: key, allowed: Set(["name"] + kind.parameters.map(\.key)))
        var given = [String: String]()
        for parameter in kind.parameters {
            guard let v = d[parameter.key] else { continue }
            let parameterKey = "\(key).\(parameter.key)"
            let text: String
            switch parameter.kind {
            case .number: text = "\(try number(v, key: parameterKey))"
            case .choice: text = try string(v, key: parameterKey)
            }
            do { given[parameter.key] = try AllocationValues.canonical(text, parameter: parameter) } catch let e as PruningError {
                throw fail(parameterKey, e.description)
            }
        }
        do { return try Allocation(name: kind.name, parameters: given) } catch let e as PruningError {
            throw fail(key, e.description)
        }
    }
}
