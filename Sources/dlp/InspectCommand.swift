/// `dlp inspect MODEL [--json]`: what a checkpoint holds.
struct InspectCommand: Command {
    static let name = "inspect"
    static let summary = "describe a model: architecture, sizes, tensor types, memory"
    static let usage = """
        usage: dlp inspect MODEL [--json]
          MODEL   a GGUF file, a safetensors directory, or a fetched model's short name (smollm2-135m)
          --json  machine-readable output
        """
    let model: String
    let json: Bool

    init(arguments: inout Arguments) throws {
        json = arguments.flag("--json")
        model = try arguments.positional("MODEL")
    }

    func run() throws {
        throw UsageError("inspect: not implemented yet")
    }
}
