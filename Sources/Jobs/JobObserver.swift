/// Where a job stands: `done` of `total` steps of one task (`"pruning pass"`, `"dense wikitext2"`),
/// and how many `unit`s (tokens, questions) a step stands for, for a throughput figure.
public struct JobProgress: Sendable, Equatable {
    public var task: String
    public var done: Int
    public var total: Int
    public var unitsPerStep: Double
    public var unit: String

    public init(task: String, done: Int, total: Int, unitsPerStep: Double, unit: String) {
        self.task = task
        self.done = done
        self.total = total
        self.unitsPerStep = unitsPerStep
        self.unit = unit
    }
}

/// What a running job tells its caller: progress, and one-line notes (what it is about to do,
/// a cache hit, a clamped allocation). The CLI draws bars and writes notes to stderr; tests and
/// the experiment runner may ignore both.
public struct JobObserver {
    public var progress: (JobProgress) -> Void
    public var note: (String) -> Void

    public init(progress: @escaping (JobProgress) -> Void = { _ in }, note: @escaping (String) -> Void = { _ in }) {
        self.progress = progress
        self.note = note
    }

    /// Ignores everything.
    public static var silent: JobObserver { JobObserver() }
}
