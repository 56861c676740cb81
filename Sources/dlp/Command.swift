import Foundation

/// One verb of the command-line tool. `parse` validates everything a run needs before any model
/// is loaded; `run` does the work.
protocol Command: Sendable {
    /// The verb as typed (`inspect`, `bench`, ...).
    static var name: String { get }
    /// One line for the command list.
    static var summary: String { get }
    /// Full usage text for `dlp VERB --help`.
    static var usage: String { get }
    /// Parses and validates the arguments that follow the verb.
    init(arguments: inout Arguments) throws
    /// Does the work; throws on runtime failure (exit 1).
    func run() throws
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

/// The arguments after the verb, consumed flag by flag; whatever is left over is an error.
struct Arguments {
    private var items: [String]

    init(_ items: [String]) { self.items = items }

    /// Removes `--flag` if present.
    mutating func flag(_ name: String) -> Bool {
        guard let i = items.firstIndex(of: name) else { return false }
        items.remove(at: i)
        return true
    }

    /// Removes `--name VALUE` or `--name=VALUE` and returns VALUE.
    mutating func option(_ name: String) throws -> String? {
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
    mutating func option<T>(_ name: String, _ parse: (String) throws -> T) throws -> T? {
        guard let text = try option(name) else { return nil }
        do { return try parse(text) } catch let error as UsageError {
            throw UsageError("\(name) \(text): \(error.description)")
        }
    }

    /// Removes and returns the next positional argument.
    mutating func positional(_ what: String) throws -> String {
        guard let i = items.firstIndex(where: { !$0.hasPrefix("--") }) else {
            throw UsageError("missing \(what)")
        }
        return items.remove(at: i)
    }

    /// Fails if anything was not consumed.
    func finish() throws {
        if let extra = items.first {
            throw UsageError(extra.hasPrefix("--") ? "unknown option \(extra)" : "unexpected argument \(extra)")
        }
    }
}

/// Parses a positive integer flag value.
func positiveInt(_ text: String) throws -> Int {
    guard let value = Int(text), value > 0 else { throw UsageError("expected a positive integer") }
    return value
}

/// Parses a finite number ≥ 0.
func nonNegative(_ text: String) throws -> Double {
    guard let value = Double(text), value.isFinite, value >= 0 else { throw UsageError("expected a number ≥ 0") }
    return value
}

/// Prints `value` as indented JSON with sorted keys on stdout: the `--json` output of every verb.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
