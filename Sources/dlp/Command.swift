import Foundation
import Jobs
import Kernels

/// One verb of the command-line tool. `init(arguments:)` validates everything a run needs before
/// any model is loaded; `run` does the work. `--help` is generated from ``options``, the same
/// declarations parsing reads, so the two cannot drift.
protocol Command: Sendable {
    /// The verb as typed (`inspect`, `bench`, ...).
    static var name: String { get }
    /// One line for the command list.
    static var summary: String { get }
    /// The usage line(s): `usage: dlp VERB MODEL [options]`.
    static var synopsis: String { get }
    /// Every argument and option the verb accepts, in `--help` order.
    static var options: [Option] { get }
    /// Text after the options in `--help` (outputs, protocol notes).
    static var footer: String { get }
    /// What SIGINT/SIGTERM loses while the verb runs, and how to resume.
    static var interruptedMessage: String { get }
    /// Parses and validates the arguments that follow the verb.
    init(arguments: inout Arguments) throws
    /// Does the work; throws on runtime failure (exit 1).
    func run() throws
}

extension Command {
    static var footer: String { "" }
    static var interruptedMessage: String { "nothing was written; run the command again" }

    /// Full usage text for `dlp VERB --help`.
    static var usage: String {
        ([synopsis] + options.map(\.helpText) + (footer.isEmpty ? [] : [footer])).joined(separator: "\n")
    }
}

/// One argument or option of a verb, declared once: parsing reads it, `--help` prints it.
struct Option: Sendable, Equatable {
    /// `--samples`, or a positional argument's name (`MODEL`).
    let name: String
    /// The value's placeholder (`N`), nil for a flag or a positional argument.
    let value: String?
    /// Help; further lines continue under the first.
    let help: String

    init(_ name: String, _ value: String? = nil, _ help: String) {
        self.name = name
        self.value = value
        self.help = help
    }

    var isPositional: Bool { !name.hasPrefix("--") }

    /// `  --samples N             help`, wrapped under a long name.
    var helpText: String {
        let head = "  " + name + (value.map { " \($0)" } ?? "")
        let indent = String(repeating: " ", count: 26)
        var lines = help.components(separatedBy: "\n")
        let first = lines.removeFirst()
        var text = head.count <= 24 ? head.padding(toLength: 26, withPad: " ", startingAt: 0) + first
            : head + "\n" + indent + first
        for line in lines { text += "\n" + indent + line }
        return text
    }
}

/// A usage error: wrong flag, missing value, value out of range. Exits with 64.
struct UsageError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}

/// A failure while running (exit status 1), with a message that says what to do.
struct RuntimeError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}

/// The arguments after the verb, consumed option by option; whatever is left over is an error.
/// Only declared options can be read (reading an undeclared one is a programming error).
struct Arguments {
    private var items: [String]
    private let declared: [Option]

    init(_ items: [String], declared: [Option]) {
        self.items = items
        self.declared = declared
    }

    private func check(_ option: Option) {
        precondition(declared.contains(option), "option \(option.name) is read but not declared in the verb's options")
    }

    /// Removes the flag if present.
    mutating func flag(_ option: Option) -> Bool {
        check(option)
        guard let i = items.firstIndex(of: option.name) else { return false }
        items.remove(at: i)
        return true
    }

    /// Removes `--name VALUE` or `--name=VALUE` and returns VALUE.
    mutating func value(_ option: Option) throws -> String? {
        check(option)
        let name = option.name
        if let i = items.firstIndex(where: { $0.hasPrefix(name + "=") }) {
            let value = String(items[i].dropFirst(name.count + 1))
            items.remove(at: i)
            return value
        }
        guard let i = items.firstIndex(of: name) else { return nil }
        guard i + 1 < items.count else { throw UsageError("\(name) needs a value") }
        let value = items[i + 1]
        items.removeSubrange(i...(i + 1))
        return value
    }

    /// Removes `--name VALUE` and converts VALUE with `parse`, which may throw with the valid values.
    mutating func value<T>(_ option: Option, _ parse: (String) throws -> T) throws -> T? {
        guard let text = try value(option) else { return nil }
        do { return try parse(text) } catch let error as UsageError {
            throw UsageError("\(option.name) \(text): \(error.description)")
        } catch let error as CustomStringConvertible {
            throw UsageError("\(option.name) \(text): \(error.description)")
        }
    }

    /// Removes and returns the next positional argument.
    mutating func positional(_ option: Option) throws -> String {
        check(option)
        guard let i = items.firstIndex(where: { !$0.hasPrefix("--") }) else {
            throw UsageError("missing \(option.name)")
        }
        return items.remove(at: i)
    }

    /// Removes and returns the next positional argument, if any.
    mutating func optionalPositional(_ option: Option) -> String? {
        check(option)
        guard let i = items.firstIndex(where: { !$0.hasPrefix("--") }) else { return nil }
        return items.remove(at: i)
    }

    /// Fails if anything was not consumed.
    func finish() throws {
        if let extra = items.first {
            throw UsageError(extra.hasPrefix("--") ? "unknown option \(extra)" : "unexpected argument \(extra)")
        }
    }
}

/// Parses a positive integer option value.
func positiveInt(_ text: String) throws -> Int {
    guard let value = Int(text), value > 0 else { throw UsageError("expected a positive integer") }
    return value
}

/// A job's validation failure as a usage error (exit 64).
func asUsageError<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as JobError where error.isUsageError {
        throw UsageError(error.description)
    }
}

/// Prints `value` as indented JSON with sorted keys on stdout: the `--json` output of every verb.
func printJSON<T: Encodable>(_ value: T) throws {
    print(String(decoding: try Job.encoder.encode(value), as: UTF8.self))
}

/// The common `MODEL` argument.
let modelArgument = Option("MODEL", nil, "a GGUF file, a safetensors directory, a `dlp prune` output directory,\nor a fetched model's short name (smollm2-135m)")
/// The common `--threads` option.
let threadsOption = Option("--threads", "N", "CPU threads (default: all available)")
/// The common `--json` flag.
let jsonOption = Option("--json", nil, "machine-readable output on stdout")
/// The common `--precision` option (perplexity, eval, prune).
let precisionOption = Option("--precision", "P", """
    products of the linear layers and the LM head: f32 (default) or bf16 (AVX512_BF16:
    weights and activations rounded to bfloat16, f32 accumulation; norms, attention, softmax
    and pruning statistics stay f32)
    """)

/// Parses a `--precision` value; bf16 is refused on a CPU without AVX512_BF16.
func parsePrecision(_ text: String) throws -> ComputePrecision {
    guard let value = ComputePrecision(rawValue: text) else { throw UsageError("unknown precision '\(text)'; valid: f32, bf16") }
    if let reason = value.unsupportedReason { throw UsageError(reason) }
    return value
}
